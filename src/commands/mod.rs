//! The subcommands that are not the broker: `edgemq passwd` edits a
//! password file as mosquitto_passwd does, `edgemq token` prints a signed
//! token (README.md, "Securing edgemq"), `edgemq ctl` asks a running
//! broker through its admin API (README.md, "Operating edgemq"). Each
//! runs and exits; they never start a listener.

mod atomic_write;
pub mod ctl;
pub mod passwd;
mod prompt;
pub mod token;
