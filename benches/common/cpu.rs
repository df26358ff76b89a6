//! CPU time spent by the processes a benchmark runs, read from /proc: with
//! two cores shared by the load generator, aarc and PostgreSQL, throughput
//! swings with the machine, but CPU time per request is steadier and says
//! which of the three a change made cheaper.

use std::collections::HashMap;

/// Clock ticks per second of /proc's utime and stime (Linux's USER_HZ).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far by each group of processes: `aarc` (the server
/// measured), `postgres` (every PostgreSQL process on the machine) and `this`
/// (the benchmark itself, the load generator).
#[derive(Debug, Clone, Default)]
pub struct CpuUse(HashMap<u32, (&'static str, f64)>);

impl CpuUse {
    pub fn now(aarc_pid: u32) -> Self {
        let me = std::process::id();
        let mut used = HashMap::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            // The command name is in parentheses and may hold spaces.
            let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
                continue;
            };
            let name = &stat[open + 1..close];
            let group = if pid == aarc_pid {
                "aarc"
            } else if pid == me {
                "this"
            } else if name.starts_with("postgres") {
                "postgres"
            } else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 2..].split_whitespace().collect();
            let ticks: f64 = [11, 12]
                .iter()
                .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<f64>().ok()))
                .sum();
            used.insert(pid, (group, ticks / TICKS_PER_SECOND));
        }
        Self(used)
    }

    /// Microseconds of CPU per request of each group between `before` and now.
    pub fn per_request(&self, before: &CpuUse, requests: u64) -> String {
        // By process: one that ended in between (pgbench's backends) took
        // its time with it, one that started counts whole.
        let spent = |group: &str| {
            let seconds: f64 = self
                .0
                .iter()
                .filter(|(_, (g, _))| *g == group)
                .map(|(pid, (_, after))| after - before.0.get(pid).map_or(0.0, |(_, b)| *b))
                .sum();
            seconds * 1e6 / requests.max(1) as f64
        };
        format!(
            "CPU per request: aarc {:.0} us, postgres {:.0} us, load generator {:.0} us",
            spent("aarc"),
            spent("postgres"),
            spent("this")
        )
    }
}
