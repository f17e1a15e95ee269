//! The cluster's processes: waited for until they answer, stopped as an
//! operator would stop them, killed with the cluster.

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use crate::Error;

/// How long a process has to answer after it starts.
const START: Duration = Duration::from_secs(30);

/// How long a process has to stop after SIGINT before it is killed.
const STOP: Duration = Duration::from_secs(10);

/// The file that holds a process's output.
pub(crate) fn output(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.out"))
}

/// Running processes by name, in the order they started.
#[derive(Debug, Default)]
pub(crate) struct Children(Vec<(String, Child)>);

impl Children {
    pub(crate) fn push(&mut self, name: &str, child: Child) {
        self.0.push((name.to_owned(), child));
    }

    /// The process id of the latest process called `name`.
    pub(crate) fn pid(&self, name: &str) -> Option<u32> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, c)| c.id())
    }

    /// How the latest process called `name` exited, if it has.
    pub(crate) fn try_wait(&mut self, name: &str) -> Option<std::process::ExitStatus> {
        let (_, child) = self.0.iter_mut().rev().find(|(n, _)| n == name)?;
        child.try_wait().ok().flatten()
    }

    /// Waits until `ready`, while the latest process called `name` runs.
    pub(crate) async fn wait_until<F: Future<Output = bool>>(
        &mut self,
        name: &str,
        dir: &Path,
        mut ready: impl FnMut() -> F,
    ) -> Result<(), Error> {
        let deadline = Instant::now() + START;
        while !ready().await {
            if let Some((_, c)) = self.0.iter_mut().rev().find(|(n, _)| *n == name)
                && let Ok(Some(status)) = c.try_wait()
            {
                return Err(Error::Stopped {
                    name: name.to_owned(),
                    status,
                    output: output(dir, name),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::Late {
                    name: name.to_owned(),
                    output: output(dir, name),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Ok(())
    }

    /// Takes every process called `name` out of the set.
    fn take(&mut self, name: &str) -> Vec<Child> {
        let (taken, kept) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(n, _)| *n == name);
        self.0 = kept;
        taken.into_iter().map(|(_, c)| c).collect()
    }

    pub(crate) fn stop(&mut self, name: &str) {
        self.take(name).into_iter().for_each(stop);
    }

    pub(crate) fn kill(&mut self, name: &str) {
        self.take(name).into_iter().for_each(kill);
    }

    pub(crate) fn stop_all(&mut self) {
        while let Some((_, child)) = self.0.pop() {
            stop(child);
        }
    }

    pub(crate) fn kill_all(&mut self) {
        while let Some((_, child)) = self.0.pop() {
            kill(child);
        }
    }
}

/// SIGINT, then up to [`STOP`] to stop, then SIGKILL. It blocks: a
/// process's end is waited for, not awaited.
fn stop(mut child: Child) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    if let Some(pid) = i32::try_from(child.id())
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::INT);
    }
    let deadline = Instant::now() + STOP;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(child);
}

fn kill(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}
