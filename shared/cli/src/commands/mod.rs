//! One module per subcommand.

pub mod dag;
pub mod export;
pub mod gc;
pub mod history;
pub mod lineage;
pub mod results;
pub mod run;
pub mod serve;
pub mod show;
pub mod status;
pub mod verify;
