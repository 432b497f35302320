//! One module per subcommand.

pub mod dag;
pub mod datasets;
pub mod export;
pub mod fetch;
pub mod gc;
pub mod init;
pub mod lineage;
pub mod results;
pub mod run;
pub mod show;
pub mod status;
pub mod verify;
