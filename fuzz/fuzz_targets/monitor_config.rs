//! The monitor's configuration file: never panics; an error names the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = std::path::Path::new("/etc/residency/monitor.toml");
    match monitor::MonitorConfig::parse(path, text) {
        Ok(c) => assert!(!c.logs.is_empty()),
        Err(e) => assert!(e.to_string().starts_with("/etc/residency/monitor.toml")),
    }
});
