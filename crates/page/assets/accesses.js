// residency: one person's accesses, in plain language, each receipt
// verified in this browser (verify.js) against the keys pinned in the
// page's configuration: the JSON block #residency-page,
//   { "lang": "en"|"fr"|null, "log_key": "<vkey>", "witness_keys": ["<vkey>"],
//     "history": { "accesses": [ … ] } }
// Nothing is fetched. When done, <body> carries data-done, data-verified,
// data-unconfirmed, data-failed and data-verify-ms.
"use strict";

(() => {
  const STRINGS = {
    en: {
      title: "Who accessed my data",
      intro:
        "Every access to your data is written to a public, signed log before anything is released. " +
        "Each access below comes with a proof, checked here in your browser against keys pinned in this page.",
      checking: "Checking the proofs…",
      summary: (n, v, u, f) =>
        `${n} ${n === 1 ? "access" : "accesses"}: ${v} verified` +
        (u ? `, ${u} not yet confirmed by a witness` : "") +
        (f ? `, ${f} failed` : "") + ".",
      banner: (f) =>
        `${f} ${f === 1 ? "proof" : "proofs"} FAILED. ` +
        "What is shown for " + (f === 1 ? "this access" : "these accesses") +
        " cannot be shown to be in the public log: the log, or whoever sent this page, is not telling the truth about it.",
      none: "No access to your data has been logged.",
      kinds: {
        read: "Read",
        transfer: "Transfer abroad",
        aggregate: "Counted in aggregate statistics",
        reidentify: "Re-identification",
        export: "Export of your data",
        erase: "Erasure of your data",
      },
      allow: "allowed",
      deny: "refused",
      who: "Who",
      from: "From",
      to: "To",
      data: "Data",
      purpose: "Purpose",
      basis: "Legal basis",
      when: "When",
      proof: "Proof",
      entry: "Log entry",
      allData: (ds) => `all your data (${ds})`,
      noBasis: "none named",
      purposes: {
        "reco-training": "training recommendation models",
        analytics: "usage statistics",
        debugging: "investigating a defect",
        "support-ticket": "answering a support ticket",
        "subject-request": "your request (a copy, an export or an erasure of your data)",
        reidentification: "re-identifying a pseudonym",
      },
      bases: {
        adequacy: (id) => `adequacy decision of the European Commission (${id})`,
        scc: (id) => `standard contractual clauses (${id})`,
        bcr: (id) => `binding corporate rules (${id})`,
        "derogation-explicit-consent": "your explicit consent (GDPR Art. 49(1)(a))",
        "derogation-contract": "performance of a contract with you (GDPR Art. 49(1)(b))",
        "derogation-legal-claims": "legal claims (GDPR Art. 49(1)(e))",
        "derogation-vital-interests": "vital interests (GDPR Art. 49(1)(f))",
        derogation: (id) => `a derogation of GDPR Art. 49 (${id})`,
      },
      status: {
        pending: "Checking…",
        verified: "Verified: in the signed log, cosigned by an independent witness",
        unconfirmed: "In the signed log, but not yet cosigned by an independent witness",
        failed: "Proof FAILED",
      },
      reasons: {
        malformed_receipt: "the receipt is unreadable",
        malformed_checkpoint: "the signed checkpoint is unreadable",
        malformed_entry: "the logged entry is unreadable",
        origin_mismatch: "the receipt is from another log",
        bad_log_signature: "the log's signature is forged",
        no_log_signature: "the checkpoint is not signed by the log's pinned key",
        bad_cosignature: "a witness's cosignature is forged",
        bad_inclusion: "the entry is not in the log as shown",
        bad_subject_proof: "the proof that this entry concerns you is wrong",
        no_subject_proof: "no proof that this entry concerns you",
        index_mismatch: "the receipt is for another entry",
        other_subject: "this entry concerns someone else",
        not_an_access: "this log entry is not an access",
        bad_pinned_key: "the page's pinned keys are unreadable",
      },
    },
    fr: {
      title: "Qui a accédé à mes données",
      intro:
        "Chaque accès à vos données est inscrit dans un journal public et signé avant que quoi que ce soit ne soit communiqué. " +
        "Chaque accès ci-dessous est accompagné d'une preuve, vérifiée ici, dans votre navigateur, avec les clés inscrites dans cette page.",
      checking: "Vérification des preuves…",
      summary: (n, v, u, f) =>
        `${n} accès : ${v} ${v > 1 ? "vérifiés" : "vérifié"}` +
        (u ? `, ${u} pas encore ${u > 1 ? "confirmés" : "confirmé"} par un témoin` : "") +
        (f ? `, ${f} en échec` : "") + ".",
      banner: (f) =>
        `${f} ${f > 1 ? "preuves INVALIDES" : "preuve INVALIDE"}. ` +
        "Rien ne montre que " + (f > 1 ? "ces accès figurent" : "cet accès figure") +
        " dans le journal public tel qu'affiché : le journal, ou l'expéditeur de cette page, ne dit pas la vérité à ce sujet.",
      none: "Aucun accès à vos données n'a été journalisé.",
      kinds: {
        read: "Consultation",
        transfer: "Transfert à l'étranger",
        aggregate: "Compté dans une statistique agrégée",
        reidentify: "Ré-identification",
        export: "Export de vos données",
        erase: "Effacement de vos données",
      },
      allow: "autorisé",
      deny: "refusé",
      who: "Qui",
      from: "Depuis",
      to: "Vers",
      data: "Données",
      purpose: "Finalité",
      basis: "Base légale",
      when: "Quand",
      proof: "Preuve",
      entry: "Entrée du journal",
      allData: (ds) => `toutes vos données (${ds})`,
      noBasis: "aucune indiquée",
      purposes: {
        "reco-training": "entraînement des modèles de recommandation",
        analytics: "statistiques d'utilisation",
        debugging: "analyse d'un défaut",
        "support-ticket": "réponse à un ticket de support",
        "subject-request": "votre demande (copie, export ou effacement de vos données)",
        reidentification: "ré-identification d'un pseudonyme",
      },
      bases: {
        adequacy: (id) => `décision d'adéquation de la Commission européenne (${id})`,
        scc: (id) => `clauses contractuelles types (${id})`,
        bcr: (id) => `règles d'entreprise contraignantes (${id})`,
        "derogation-explicit-consent": "votre consentement explicite (RGPD art. 49(1)(a))",
        "derogation-contract": "exécution d'un contrat avec vous (RGPD art. 49(1)(b))",
        "derogation-legal-claims": "droits en justice (RGPD art. 49(1)(e))",
        "derogation-vital-interests": "intérêts vitaux (RGPD art. 49(1)(f))",
        derogation: (id) => `une dérogation de l'art. 49 du RGPD (${id})`,
      },
      status: {
        pending: "Vérification…",
        verified: "Vérifié : dans le journal signé, contresigné par un témoin indépendant",
        unconfirmed: "Dans le journal signé, mais pas encore contresigné par un témoin indépendant",
        failed: "Preuve INVALIDE",
      },
      reasons: {
        malformed_receipt: "le reçu est illisible",
        malformed_checkpoint: "le point de contrôle signé est illisible",
        malformed_entry: "l'entrée journalisée est illisible",
        origin_mismatch: "le reçu vient d'un autre journal",
        bad_log_signature: "la signature du journal est falsifiée",
        no_log_signature: "le point de contrôle n'est pas signé par la clé inscrite du journal",
        bad_cosignature: "la contresignature d'un témoin est falsifiée",
        bad_inclusion: "l'entrée ne figure pas dans le journal telle qu'affichée",
        bad_subject_proof: "la preuve que cette entrée vous concerne est fausse",
        no_subject_proof: "aucune preuve que cette entrée vous concerne",
        index_mismatch: "le reçu porte sur une autre entrée",
        other_subject: "cette entrée concerne quelqu'un d'autre",
        not_an_access: "cette entrée du journal n'est pas un accès",
        bad_pinned_key: "les clés inscrites dans la page sont illisibles",
      },
    },
  };

  function language(cfg) {
    const wanted = [cfg.lang, ...(navigator.languages || []), navigator.language];
    for (const l of wanted) {
      const base = typeof l === "string" ? l.toLowerCase().split("-")[0] : "";
      if (Object.prototype.hasOwnProperty.call(STRINGS, base)) return base;
    }
    return "en";
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    for (const c of children) e.append(c);
    return e;
  }

  function country(code, lang) {
    if (typeof code !== "string" || code === "") return "?";
    try {
      const name = new Intl.DisplayNames([lang], { type: "region" }).of(code);
      return name && name !== code ? name : code;
    } catch (_) {
      return code; // a jurisdiction such as EEA
    }
  }

  function jurisdiction(code, lang) {
    if (code === "EEA") return lang === "fr" ? "Espace économique européen" : "European Economic Area";
    return country(code, lang);
  }

  function legalBasis(id, t) {
    if (typeof id !== "string" || id === "") return t.noBasis;
    const b = t.bases;
    if (id.startsWith("adequacy:")) return b.adequacy(id.slice("adequacy:".length));
    if (typeof b[id] === "string") return b[id];
    if (id.startsWith("scc")) return b.scc(id);
    if (id.startsWith("bcr")) return b.bcr(id);
    if (id.startsWith("derogation")) return b.derogation(id);
    return id;
  }

  function when(time, lang) {
    const d = new Date(time);
    if (isNaN(d.getTime())) return String(time);
    return new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" }).format(d);
  }

  function row(dl, label, value, cls) {
    dl.append(el("dt", {}, label), el("dd", cls ? { class: cls } : {}, value));
  }

  function accessItem(a, position, t, lang) {
    const e = a.entry && typeof a.entry === "object" ? a.entry : {};
    const action = typeof e.action === "string" ? e.action : "?";
    const decision = e.decision === "deny" ? "deny" : "allow";
    const li = el("li", {
      class: `access ${decision}`,
      "data-log-index": String(a.log_index),
      "data-status": "pending",
      "data-action": action,
      "data-decision": decision,
      "data-position": String(position),
    });
    const head = el(
      "h2",
      {},
      el("span", { class: "kind" }, t.kinds[action] || action),
      " ",
      el("span", { class: `decision ${decision}` }, t[decision]),
    );
    li.append(head);
    const dl = el("dl");
    const p = e.principal || {};
    row(dl, t.who, String(p.id || "?"), "who");
    row(dl, t.from, country(p.location, lang), "from");
    if (action === "transfer" && typeof e.destination === "string" && e.destination !== p.location) {
      row(dl, t.to, jurisdiction(e.destination, lang), "to");
    }
    const fields = Object.keys(e.fields || {});
    const datasets = Array.isArray(e.datasets) ? e.datasets.join(", ") : "";
    row(dl, t.data, fields.length ? fields.join(", ") : t.allData(datasets), "data");
    if (e.purpose) row(dl, t.purpose, t.purposes[e.purpose] || String(e.purpose), "purpose");
    if (action === "transfer" || e.legal_basis) row(dl, t.basis, legalBasis(e.legal_basis, t), "basis");
    row(dl, t.when, when(e.time, lang), "when");
    const proof = el("dd", { class: "proof" }, t.status.pending);
    dl.append(el("dt", {}, t.proof), proof);
    row(dl, t.entry, `#${a.log_index}`, "index");
    li.append(dl);
    return { li, proof };
  }

  async function main() {
    const body = document.body;
    let cfg;
    try {
      cfg = JSON.parse(document.getElementById("residency-page").textContent);
    } catch (_) {
      cfg = {};
    }
    const lang = language(cfg);
    const t = STRINGS[lang];
    document.documentElement.lang = lang;
    document.title = t.title;
    document.getElementById("title").textContent = t.title;
    document.getElementById("intro").textContent = t.intro;
    const summary = document.getElementById("summary");
    summary.textContent = t.checking;
    const listed = cfg.history && cfg.history.accesses;
    const given = Array.isArray(listed) ? listed.filter((a) => a && typeof a === "object") : [];
    // Newest first; data-position is the place in the answer.
    const order = given.map((_, i) => i);
    order.sort((x, y) => Number(given[y].log_index) - Number(given[x].log_index));
    const accesses = order.map((i) => given[i]);
    const list = document.getElementById("accesses");
    const items = accesses.map((a, i) => accessItem(a, order[i], t, lang));
    for (const i of items) list.append(i.li);
    if (accesses.length === 0) list.append(el("li", { class: "none" }, t.none));

    const started = performance.now();
    const results = await ResidencyVerify.verifyAll(
      cfg.log_key,
      cfg.witness_keys || [],
      accesses,
      cfg.history && cfg.history.subject,
    );
    const ms = performance.now() - started;

    const count = { verified: 0, unconfirmed: 0, failed: 0 };
    results.forEach((r, i) => {
      count[r.status]++;
      const { li, proof } = items[i];
      li.dataset.status = r.status;
      li.dataset.reason = r.reason;
      li.classList.add(r.status);
      proof.textContent = r.status === "failed" ? `✗ ${t.status.failed}: ${t.reasons[r.reason] || r.reason}` : (r.status === "verified" ? "✓ " : "~ ") + t.status[r.status];
      proof.dataset.reason = r.reason;
      if (r.detail) proof.title = r.detail;
    });
    summary.textContent = t.summary(accesses.length, count.verified, count.unconfirmed, count.failed);
    if (count.failed > 0) {
      const banner = document.getElementById("banner");
      banner.textContent = t.banner(count.failed);
      banner.hidden = false;
    }
    body.dataset.verified = String(count.verified);
    body.dataset.unconfirmed = String(count.unconfirmed);
    body.dataset.failed = String(count.failed);
    body.dataset.verifyMs = String(Math.round(ms));
    const root = document.documentElement;
    body.dataset.overflowX = String(Math.max(0, root.scrollWidth - root.clientWidth));
    body.dataset.done = "true";
  }

  main().catch((e) => {
    document.body.dataset.error = String(e && e.message);
    document.body.dataset.done = "true";
  });
})();
