//! What the benches that drive a local stack share: the memory of its processes, percentiles.

use std::collections::HashMap;
use std::time::Duration;

/// Resident memory of a process, in KiB (`VmRSS`), 0 when it is gone.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("VmRSS:").and_then(|v| v.split_whitespace().next()?.parse().ok()))
        })
        .unwrap_or(0)
}

/// `root` and every process descending from it, with their command lines.
pub fn descendants(root: u32) -> Vec<(u32, String)> {
    let mut parents: HashMap<u32, u32> = HashMap::new();
    let mut commands: HashMap<u32, String> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        // `pid (comm) state ppid ...`: the command may hold spaces and parentheses.
        let Some(after) = stat.rfind(')').map(|at| &stat[at + 1..]) else { continue };
        let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) else { continue };
        parents.insert(pid, ppid);
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        commands.insert(pid, String::from_utf8_lossy(&cmdline).replace('\0', " "));
    }
    let mut out = vec![(root, commands.get(&root).cloned().unwrap_or_default())];
    let mut frontier = vec![root];
    while let Some(parent) = frontier.pop() {
        for (child, _) in parents.iter().filter(|(_, p)| **p == parent) {
            out.push((*child, commands.get(child).cloned().unwrap_or_default()));
            frontier.push(*child);
        }
    }
    out
}

/// moto's resident memory and the whole stack's, in KiB.
pub fn memory(stack: u32) -> (u64, u64) {
    let processes = descendants(stack);
    let moto = processes.iter().filter(|(_, cmd)| cmd.contains("moto_serial.py")).map(|(pid, _)| rss_kib(*pid)).max();
    let total = processes.iter().map(|(pid, _)| rss_kib(*pid)).sum();
    (moto.unwrap_or(0), total)
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
