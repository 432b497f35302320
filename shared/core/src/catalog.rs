//! The catalogue of artifacts the stages exchange: each produced artifact's name
//! (`stage.output`) and format, declared once. Stages list these constants in
//! [`crate::Stage::INPUTS`] / [`crate::Stage::OUTPUTS`]; the runner wires the DAG from
//! those lists, and the CLI finds outputs by the same constants. Schemas are
//! documented beside their readers ([`crate::table`], `alsflow-formats`) and listed in
//! ARCHITECTURE.md.

use crate::Format;
use std::fmt;

/// One stage output, as other stages and the CLI name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ArtifactName {
    /// The producing stage (`split`).
    pub stage: &'static str,
    /// The output's own name within the stage (`train`).
    pub output: &'static str,
    /// `stage.output` (`split.train`): the input name consumers see.
    pub qualified: &'static str,
    /// How its bytes are encoded.
    pub format: Format,
}

impl AsRef<str> for ArtifactName {
    fn as_ref(&self) -> &str {
        self.qualified
    }
}

impl fmt::Display for ArtifactName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.qualified)
    }
}

macro_rules! artifacts {
    ($( $(#[$doc:meta])* $stage:ident { $( $(#[$odoc:meta])* $konst:ident = $out:literal : $fmt:ident ),* $(,)? } )*) => {
        $(
            $(#[$doc])*
            pub mod $stage {
                use super::ArtifactName;
                use crate::Format;
                $(
                    $(#[$odoc])*
                    pub const $konst: ArtifactName = ArtifactName {
                        stage: stringify!($stage),
                        output: $out,
                        qualified: concat!(stringify!($stage), ".", $out),
                        format: Format::$fmt,
                    };
                )*
                /// Every output of the stage, in declaration order.
                pub const ALL: &[ArtifactName] = &[$($konst),*];
            }
        )*
        /// Every produced artifact of every stage.
        pub const ALL: &[&[ArtifactName]] = &[$($stage::ALL),*];
    };
}

artifacts! {
    /// Outputs of `preprocess`.
    preprocess {
        /// Interactions in dense index space ([`crate::table::Interactions`]).
        INTERACTIONS = "interactions": Parquet,
        /// User index ↔ raw id ([`crate::table::IdMap`]).
        USERS = "users": Parquet,
        /// Item index ↔ raw id and title ([`crate::table::IdMap`]).
        ITEMS = "items": Parquet,
    }
    /// Outputs of `split`.
    split {
        /// Training rows ([`crate::table::Interactions`]).
        TRAIN = "train": Parquet,
        /// Test rows ([`crate::table::Interactions`]).
        TEST = "test": Parquet,
        /// Training rows with `fold` and `cold` columns ([`crate::table::Interactions`]).
        FOLDS = "folds": Parquet,
    }
    /// Outputs of `tune`.
    tune {
        /// One row per (grid point, fold) (`alsflow_formats::results`).
        RESULTS = "results": Parquet,
        /// The selected ALS params (bincode `AlsParams`).
        BEST_PARAMS = "best_params": Bincode,
        /// Mean CV metric over rank × alpha (SVG).
        HEATMAP = "heatmap": Svg,
        /// Mean CV ROEM against iterations (SVG).
        ROEM_VS_ITER = "roem_vs_iter": Svg,
        /// How the search went: rounds, points tried and why, fits against the full
        /// grid, the best point's fold spread, edge warnings (`alsflow_formats::search`).
        SEARCH = "search": Json,
    }
    /// Outputs of `train`.
    train {
        /// The fitted model (bincode `AlsModel`).
        MODEL = "model": Bincode,
        /// User factors (`alsflow_formats::factors`).
        USER_FACTORS = "user_factors": Parquet,
        /// Item factors (`alsflow_formats::factors`).
        ITEM_FACTORS = "item_factors": Parquet,
    }
    /// Outputs of `evaluate`.
    evaluate {
        /// Test metrics per system (`alsflow_formats::metrics`).
        METRICS = "metrics": Parquet,
        /// The self-contained HTML report.
        REPORT = "report": Html,
    }
}

/// Names of raw-file inputs (only `preprocess` reads raw files).
pub mod raw {
    /// The dataset's main file (`path`).
    pub const SOURCE: &str = "source";
    /// The predefined test file (`test_path`).
    pub const SOURCE_TEST: &str = "source_test";
    /// A companion file with item titles (e.g. MovieLens `movies.csv`).
    pub const TITLES: &str = "titles";
}

/// The artifact called `qualified` (`split.train`), if the catalogue has it.
pub fn find(qualified: &str) -> Option<ArtifactName> {
    ALL.iter()
        .flat_map(|s| s.iter())
        .find(|a| a.qualified == qualified)
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_qualified_and_unique() {
        assert_eq!(split::TRAIN.qualified, "split.train");
        assert_eq!(split::TRAIN.stage, "split");
        assert_eq!(train::MODEL.format, Format::Bincode);
        let mut all: Vec<&str> = ALL
            .iter()
            .flat_map(|s| s.iter())
            .map(|a| a.qualified)
            .collect();
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), n);
        assert_eq!(find("tune.best_params"), Some(tune::BEST_PARAMS));
        assert_eq!(find("tune.nothing"), None);
        assert_eq!(find("tune.search").map(|a| a.format), Some(Format::Json));
    }
}
