//! CPU time of this process's threads by name, from /proc (clock ticks,
//! usually 10 ms: coarse, so measured over seconds of work).

/// User + system CPU seconds of the threads whose name starts with `prefix`.
pub(crate) fn thread_cpu_seconds(prefix: &str) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ on Linux
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = entry.path();
        let Ok(comm) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if !comm.trim_end().starts_with(prefix) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // Fields after the ")" that closes the name: state is field 3,
        // utime 14 and stime 15 (1-based), i.e. 11 and 12 after state.
        let rest = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = rest.split(' ').collect();
        ticks += fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    }
    ticks as f64 / ticks_per_second
}
