//! The subcommands that are not the broker: `edgemq passwd` edits a
//! password file as mosquitto_passwd does, `edgemq token` prints a signed
//! token (README.md, "Securing edgemq"). Each runs and exits; they use
//! the credential formats of src/auth/ and never start a listener.

mod atomic_write;
pub mod passwd;
mod prompt;
pub mod token;
