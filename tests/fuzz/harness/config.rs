//! The configuration parser on arbitrary text. `include_dir` and
//! `remote_password_file` lines are left out: they read the filesystem,
//! which would make a run depend on the machine.

use edgemq::config::Config;

pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let text: String = text
        .split_inclusive('\n')
        .filter(|line| {
            let key = line.split_whitespace().next().unwrap_or("");
            key != "include_dir" && key != "remote_password_file"
        })
        .collect();
    if let Ok((config, _warnings)) = Config::parse_str(&text, "fuzz.conf") {
        // What the broker derives from a valid config must not panic either.
        let _ = edgemq::broker::Settings::from_config(&config);
    }
}
