//! Dataset presets: `[[dataset]] preset = "ml-latest-small"` fills in where the data
//! comes from (URL, archive member, local path, known checksums), how to read it
//! (format, feedback and the other preprocess keys) and what its owners ask of users
//! (licence terms, citation). Keys set in the dataset table override the preset's.
//!
//! The facts come from the data owners' pages and READMEs; the pinned sha256 values
//! are those of the files checked by hand (see the project's data notes). A preset
//! without a pinned checksum gets one on its first download: the lock file beside the
//! config records it (`crate::datalock`).

/// One archive member unpacked beside the data file (titles, the README with the
/// licence). Missing companions are skipped with a warning: they only decorate output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Companion {
    /// Its path inside the archive.
    pub member: &'static str,
    /// Where it goes, relative to the data home.
    pub path: &'static str,
}

/// A dataset known by name.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Preset {
    /// The name used in `preset = "…"`, `alsflow fetch NAME` and `alsflow init --preset NAME`.
    pub name: &'static str,
    /// Human title.
    pub title: &'static str,
    /// Where to download it (an archive or the file itself).
    pub url: &'static str,
    /// The data file's path inside the archive (`None` when the URL is the file).
    pub member: Option<&'static str>,
    /// Where the data file lives, relative to the data home (a copy already there is used).
    pub path: &'static str,
    /// Other members unpacked beside it.
    pub companions: &'static [Companion],
    /// sha256 of the download, when pinned (else the lock file records it).
    pub sha256: Option<&'static str>,
    /// sha256 of the data file, when pinned.
    pub member_sha256: Option<&'static str>,
    /// Preprocess keys, as TOML (`format = "movielens"` …), merged under the dataset's own.
    pub preprocess: &'static str,
    /// Download size, as the owners state it.
    pub size: &'static str,
    /// Interaction rows (None: the dataset changes between releases).
    pub rows: Option<u64>,
    /// Distinct users and items, as documented.
    pub users_items: &'static str,
    /// The licence in one line.
    pub licence: &'static str,
    /// The licence terms to show on fetch (verbatim where the owners ship them).
    pub terms: &'static str,
    /// What to cite.
    pub citation: &'static str,
    /// The dataset's home page.
    pub homepage: &'static str,
}

const GROUPLENS_CITATION: &str = "F. Maxwell Harper and Joseph A. Konstan. 2015. The MovieLens \
     Datasets: History and Context. ACM Transactions on Interactive Intelligent Systems (TiiS) \
     5, 4: 19:1–19:19. https://doi.org/10.1145/2827872";
const GROUPLENS_NO_REDISTRIBUTION: &str = include_str!("terms/grouplens-no-redistribution.txt");
const GROUPLENS_REDISTRIBUTION: &str = include_str!("terms/grouplens-redistribution.txt");
const GROUPLENS_NO_REDISTRIBUTION_LINE: &str = "GroupLens research licence: research use only, \
     no redistribution, no commercial use without permission, cite in publications";
const GROUPLENS_REDISTRIBUTION_LINE: &str = "GroupLens research licence: research use, \
     redistribution under the same terms, no commercial use without permission, cite in \
     publications";
const MSD_CITATION: &str = "Thierry Bertin-Mahieux, Daniel P.W. Ellis, Brian Whitman, and Paul \
     Lamere. The Million Song Dataset. In Proceedings of the 12th International Society for \
     Music Information Retrieval Conference (ISMIR 2011), 2011.";
const MSD_TERMS: &str = "The Echo Nest Taste Profile Subset was released by The Echo Nest and \
     LabROSA (Columbia University) for research with the Million Song Dataset; its terms are \
     on http://millionsongdataset.com/tasteprofile/ (no licence text ships with the data).";
const MOVIELENS_CSV: &str = "format = \"movielens\"\nfeedback = \"binary\"\n";

/// Every preset, in the order `alsflow datasets` lists them.
pub const PRESETS: &[Preset] = &[
    Preset {
        name: "ml-100k",
        title: "MovieLens 100K (1998)",
        url: "https://files.grouplens.org/datasets/movielens/ml-100k.zip",
        member: Some("ml-100k/u.data"),
        path: "ml-100k/u.data",
        companions: &[
            Companion {
                member: "ml-100k/u.item",
                path: "ml-100k/u.item",
            },
            Companion {
                member: "ml-100k/README",
                path: "ml-100k/README",
            },
        ],
        sha256: None,
        member_sha256: Some("06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"),
        preprocess: MOVIELENS_CSV,
        size: "5 MB",
        rows: Some(100_000),
        users_items: "943 users, 1,682 movies",
        licence: GROUPLENS_NO_REDISTRIBUTION_LINE,
        terms: GROUPLENS_NO_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/100k/",
    },
    Preset {
        name: "ml-1m",
        title: "MovieLens 1M (2003)",
        url: "https://files.grouplens.org/datasets/movielens/ml-1m.zip",
        member: Some("ml-1m/ratings.dat"),
        path: "ml-1m/ratings.dat",
        companions: &[
            Companion {
                member: "ml-1m/movies.dat",
                path: "ml-1m/movies.dat",
            },
            Companion {
                member: "ml-1m/README",
                path: "ml-1m/README",
            },
        ],
        sha256: None,
        member_sha256: None,
        preprocess: MOVIELENS_CSV,
        size: "6 MB",
        rows: Some(1_000_209),
        users_items: "6,040 users, 3,883 movies",
        licence: GROUPLENS_NO_REDISTRIBUTION_LINE,
        terms: GROUPLENS_NO_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/1m/",
    },
    Preset {
        name: "ml-10m",
        title: "MovieLens 10M (2009)",
        url: "https://files.grouplens.org/datasets/movielens/ml-10m.zip",
        member: Some("ml-10M100K/ratings.dat"),
        path: "ml-10m/ratings.dat",
        companions: &[
            Companion {
                member: "ml-10M100K/movies.dat",
                path: "ml-10m/movies.dat",
            },
            Companion {
                member: "ml-10M100K/README.html",
                path: "ml-10m/README.html",
            },
        ],
        sha256: None,
        member_sha256: None,
        preprocess: MOVIELENS_CSV,
        size: "63 MB",
        rows: Some(10_000_054),
        users_items: "71,567 users (69,878 with ratings), 10,681 movies",
        licence: GROUPLENS_NO_REDISTRIBUTION_LINE,
        terms: GROUPLENS_NO_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/10m/",
    },
    Preset {
        name: "ml-20m",
        title: "MovieLens 20M (2015)",
        url: "https://files.grouplens.org/datasets/movielens/ml-20m.zip",
        member: Some("ml-20m/ratings.csv"),
        path: "ml-20m/ratings.csv",
        companions: &[
            Companion {
                member: "ml-20m/movies.csv",
                path: "ml-20m/movies.csv",
            },
            Companion {
                member: "ml-20m/README.txt",
                path: "ml-20m/README.txt",
            },
        ],
        sha256: None,
        member_sha256: None,
        preprocess: MOVIELENS_CSV,
        size: "190 MB",
        rows: Some(20_000_263),
        users_items: "138,493 users, 27,278 movies",
        licence: GROUPLENS_REDISTRIBUTION_LINE,
        terms: GROUPLENS_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/20m/",
    },
    Preset {
        name: "ml-25m",
        title: "MovieLens 25M (2019)",
        url: "https://files.grouplens.org/datasets/movielens/ml-25m.zip",
        member: Some("ml-25m/ratings.csv"),
        path: "ml-25m/ratings.csv",
        companions: &[
            Companion {
                member: "ml-25m/movies.csv",
                path: "ml-25m/movies.csv",
            },
            Companion {
                member: "ml-25m/README.txt",
                path: "ml-25m/README.txt",
            },
        ],
        sha256: None,
        member_sha256: None,
        preprocess: MOVIELENS_CSV,
        size: "250 MB",
        rows: Some(25_000_095),
        users_items: "162,541 users, 62,423 movies",
        licence: GROUPLENS_REDISTRIBUTION_LINE,
        terms: GROUPLENS_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/25m/",
    },
    Preset {
        name: "ml-32m",
        title: "MovieLens 32M (2023)",
        url: "https://files.grouplens.org/datasets/movielens/ml-32m.zip",
        member: Some("ml-32m/ratings.csv"),
        path: "ml-32m/ratings.csv",
        companions: &[
            Companion {
                member: "ml-32m/movies.csv",
                path: "ml-32m/movies.csv",
            },
            Companion {
                member: "ml-32m/README.txt",
                path: "ml-32m/README.txt",
            },
        ],
        sha256: None,
        member_sha256: None,
        preprocess: MOVIELENS_CSV,
        size: "239 MB",
        rows: Some(32_000_204),
        users_items: "200,948 users, 87,585 movies",
        licence: GROUPLENS_REDISTRIBUTION_LINE,
        terms: GROUPLENS_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/32m/",
    },
    Preset {
        name: "ml-latest-small",
        title: "MovieLens Latest Small (September 2018 snapshot)",
        url: "https://files.grouplens.org/datasets/movielens/ml-latest-small.zip",
        member: Some("ml-latest-small/ratings.csv"),
        path: "ml-latest-small/ratings.csv",
        companions: &[
            Companion {
                member: "ml-latest-small/movies.csv",
                path: "ml-latest-small/movies.csv",
            },
            Companion {
                member: "ml-latest-small/README.txt",
                path: "ml-latest-small/README.txt",
            },
        ],
        sha256: None,
        member_sha256: Some("aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646"),
        preprocess: MOVIELENS_CSV,
        size: "1 MB",
        rows: Some(100_836),
        users_items: "610 users, 9,742 movies",
        licence: GROUPLENS_REDISTRIBUTION_LINE,
        terms: GROUPLENS_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/latest/",
    },
    Preset {
        name: "ml-latest",
        title: "MovieLens Latest (changes between releases)",
        url: "https://files.grouplens.org/datasets/movielens/ml-latest.zip",
        member: Some("ml-latest/ratings.csv"),
        path: "ml-latest/ratings.csv",
        companions: &[
            Companion {
                member: "ml-latest/movies.csv",
                path: "ml-latest/movies.csv",
            },
            Companion {
                member: "ml-latest/README.txt",
                path: "ml-latest/README.txt",
            },
        ],
        sha256: None,
        member_sha256: None,
        preprocess: MOVIELENS_CSV,
        size: "335 MB",
        rows: None,
        users_items: "330,975 users, 86,537 movies, 33,832,162 ratings in the July 2023 release",
        licence: GROUPLENS_REDISTRIBUTION_LINE,
        terms: GROUPLENS_REDISTRIBUTION,
        citation: GROUPLENS_CITATION,
        homepage: "https://grouplens.org/datasets/movielens/latest/",
    },
    Preset {
        name: "msd-course-subset",
        title: "Million Song play counts, the seed workflow's course sample",
        url: "https://raw.githubusercontent.com/jacesca/pyspark-als-recommendation-systems/\
              432a63dbb0a87796be21662a5977ad836d2b5bfa/data-sources/songs/ratings.csv",
        member: None,
        path: "msd-course-subset/ratings.csv",
        companions: &[],
        sha256: Some("a6d46a4993b5ad7ec9bee0057e58a6d8a94ac6e887afef5ef29cb64c99e77e35"),
        member_sha256: None,
        preprocess: "format = \"delimited\"\ndelimiter = \",\"\nheader = true\n\
                     columns = { user = \"userId\", item = \"songId\", value = \"num_plays\" }\n\
                     feedback = \"count\"\n",
        size: "0.3 MB",
        rows: Some(24_852),
        users_items: "321 users, 705 songs",
        licence: "a sample of the Echo Nest Taste Profile Subset (research use); \
                  no licence text ships with it",
        terms: MSD_TERMS,
        citation: MSD_CITATION,
        homepage: "http://millionsongdataset.com/tasteprofile/",
    },
    Preset {
        name: "msd-taste-profile",
        title: "Echo Nest Taste Profile Subset (Million Song Dataset), train triplets",
        url: "https://millionsongdataset.com/sites/default/files/challenge/train_triplets.txt.zip",
        member: Some("train_triplets.txt"),
        path: "msd-taste-profile/train_triplets.txt",
        companions: &[],
        sha256: None,
        member_sha256: None,
        preprocess: "format = \"msd-triplets\"\nfeedback = \"count\"\n",
        size: "0.5 GB (2.9 GB unpacked)",
        rows: Some(48_373_586),
        users_items: "1,019,318 users, 384,546 songs",
        licence: "research use, terms on the Million Song Dataset site",
        terms: MSD_TERMS,
        citation: MSD_CITATION,
        homepage: "http://millionsongdataset.com/tasteprofile/",
    },
    Preset {
        name: "lastfm-360k",
        title: "Last.fm 360K users' top artists (2010)",
        url: "https://zenodo.org/records/6090214/files/lastfm-dataset-360K.tar.gz",
        member: Some("lastfm-dataset-360K/usersha1-artmbid-artname-plays.tsv"),
        path: "lastfm-360k/usersha1-artmbid-artname-plays.tsv",
        companions: &[Companion {
            member: "lastfm-dataset-360K/README.txt",
            path: "lastfm-360k/README.txt",
        }],
        sha256: None,
        member_sha256: None,
        // user sha1 \t artist MusicBrainz id \t artist name \t plays; artists by name (the
        // MusicBrainz id is empty for a third of them), quotes are part of names, and the
        // dump has a few malformed lines, which are skipped and counted.
        preprocess: "format = \"delimited\"\ndelimiter = \"\\t\"\nheader = false\nquote = \"\"\n\
                     columns = { user = 0, item = 2, value = 3 }\nfeedback = \"count\"\n\
                     on_bad_row = \"skip\"\n",
        size: "543 MB (1.6 GB unpacked)",
        rows: Some(17_559_530),
        users_items: "359,347 users, about 294,000 artists",
        licence: "non-commercial use, distributed with permission of Last.fm",
        terms: "The data is distributed with permission of Last.fm and made available for \
                non-commercial use; those interested in a commercial use should contact Last.fm \
                (see README.txt in the archive and the Last.fm terms of service).",
        citation: "Òscar Celma. Music Recommendation and Discovery in the Long Tail. Springer, \
                   2010. Data: https://doi.org/10.5281/zenodo.6090214",
        homepage: "https://www.upf.edu/web/mtg/lastfm360k",
    },
];

/// The preset called `name`.
pub fn find(name: &str) -> Option<&'static Preset> {
    PRESETS.iter().find(|p| p.name == name)
}

/// The preset names, for messages.
pub fn names() -> Vec<&'static str> {
    PRESETS.iter().map(|p| p.name).collect()
}

/// The preset called `name`, or an error listing the known ones.
pub fn lookup(name: &str) -> Result<&'static Preset, String> {
    find(name).ok_or_else(|| {
        format!(
            "unknown preset \"{name}\" (known: {}; `alsflow datasets` describes them)",
            names().join(", ")
        )
    })
}

impl Preset {
    /// The preprocess keys of the preset, parsed.
    pub fn preprocess_table(&self) -> toml::Table {
        // A unit test parses every preset's table, so this cannot fail at run time.
        toml::from_str(self.preprocess).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_parses_into_valid_preprocess_params_and_safe_paths() {
        let mut seen = std::collections::BTreeSet::new();
        for p in PRESETS {
            assert!(seen.insert(p.name), "duplicate preset {}", p.name);
            let table: toml::Table = toml::from_str(p.preprocess)
                .unwrap_or_else(|e| panic!("{}: preprocess keys: {e}", p.name));
            let params: Result<alsflow_preprocess::Params, _> =
                toml::Value::Table(table).try_into();
            assert!(params.is_ok(), "{}: {params:?}", p.name);
            assert!(p.url.starts_with("https://"), "{}: {}", p.name, p.url);
            assert!(!p.url.contains(' '), "{}: {}", p.name, p.url);
            for path in std::iter::once(p.path).chain(p.companions.iter().map(|c| c.path)) {
                assert!(
                    !path.starts_with('/') && !path.split('/').any(|c| c == ".." || c.is_empty()),
                    "{}: {path}",
                    p.name
                );
            }
            for sha in [p.sha256, p.member_sha256].into_iter().flatten() {
                assert!(
                    sha.len() == 64 && alsflow_core::hex::is_hex(sha),
                    "{}",
                    p.name
                );
            }
        }
        assert!(find("ml-latest-small").is_some());
        assert!(lookup("ml-2m").unwrap_err().contains("ml-100k"));
    }
}
