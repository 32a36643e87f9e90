//! `spillway check`: the preflight check of a deployed stack before the sale. It reads the
//! stack and its cluster (`spillway_aws::preflight`, read-only) and judges every rule
//! (`spillway::preflight`): pass, warning, failure (with the fix), or "only real AWS can tell".
//!
//! Exit status, for CI: 0 when nothing failed (warnings allowed, unless `--strict`), 1 when a
//! rule failed, 2 when the stack cannot be read at all.

use std::io::Write;
use std::process::ExitCode;

use spillway::preflight::{self, Finding, Verdict};

/// The arguments of `spillway check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The deployed stack's name.
    #[arg(long, env = "SPILLWAY_STACK")]
    stack: String,
    /// Fail on warnings too.
    #[arg(long)]
    strict: bool,
    /// Check only this cluster (its key in the stack's `Clusters`); every watched cluster when
    /// absent.
    #[arg(long, value_name = "KEY")]
    cluster: Option<String>,
    /// Print the findings as JSON: one object per cluster, one per line (JSON Lines).
    #[arg(long)]
    json: bool,
    /// Judge as of this time (Unix seconds) instead of now: what the executions' age is
    /// measured against.
    #[arg(long, value_name = "EPOCH_SECONDS", hide = true)]
    at: Option<i64>,
}

#[derive(serde::Serialize)]
struct Report<'a> {
    stack: &'a str,
    /// The cluster's key in a Region stack (absent: a one-cluster stack).
    #[serde(skip_serializing_if = "Option::is_none")]
    cluster: Option<&'a str>,
    findings: &'a [Finding],
    /// Reads that failed (their rules fail with "could not read").
    read_errors: &'a [String],
}

pub async fn run(args: &CheckArgs) -> ExitCode {
    let config = spillway_aws::sdk_config().await;
    let now = args.at.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    // Every watched cluster, one report each (a one-cluster stack: one, keyed "").
    let mut keys = match spillway_aws::preflight::cluster_keys(&config, &args.stack).await {
        Ok(k) => k,
        Err(e) => {
            eprintln!("spillway check: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(only) = &args.cluster {
        if !keys.contains(only) {
            let known = match keys.as_slice() {
                [one] if one.is_empty() => "a one-cluster stack, without keys".to_owned(),
                _ => format!("its keys: {}", keys.join(", ")),
            };
            eprintln!(
                "spillway check: {} watches no cluster key {only} ({known})",
                args.stack
            );
            return ExitCode::from(2);
        }
        keys.retain(|k| k == only);
    }
    let mut worst = Verdict::Pass;
    for key in &keys {
        let (snapshot, errors) =
            match spillway_aws::preflight::snapshot(&config, &args.stack, key, now).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("spillway check: {e}");
                    return ExitCode::from(2);
                }
            };
        let findings = preflight::check(&snapshot);
        let report = Report {
            stack: &args.stack,
            cluster: (!key.is_empty()).then_some(key.as_str()),
            findings: &findings,
            read_errors: &errors,
        };
        worst = findings.iter().map(|f| f.verdict).fold(worst, Ord::max);
        if let Err(code) = crate::simulate::write(args.json, &report, |out| print(out, &report)) {
            return code;
        }
    }
    match worst {
        Verdict::Fail => ExitCode::from(1),
        Verdict::Warn if args.strict => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    }
}

fn print(out: &mut impl Write, r: &Report) -> std::io::Result<()> {
    match r.cluster {
        Some(key) => writeln!(out, "spillway check {} (cluster {key})", r.stack)?,
        None => writeln!(out, "spillway check {}", r.stack)?,
    }
    for f in r.findings {
        let mark = match f.verdict {
            Verdict::Pass => "pass",
            Verdict::NotChecked => "needs AWS",
            Verdict::Warn => "WARN",
            Verdict::Fail => "FAIL",
        };
        writeln!(out, "{mark:>9}  {}: {}", f.rule, f.detail)?;
        if !f.fix.is_empty() {
            writeln!(out, "{:>9}  fix: {}", "", f.fix)?;
        }
    }
    for e in r.read_errors {
        writeln!(out, "{:>9}  read error: {e}", "")?;
    }
    Ok(())
}
