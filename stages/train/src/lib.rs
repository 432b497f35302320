//! Stage train: the final ALS model and its factor tables.
//!
//! Inputs: `split.train` (interactions), `preprocess.users` / `preprocess.items` (id
//! maps) and, when the pipeline tunes, `tune.best_params` (an [`AlsParams`] encoded
//! with the workspace codec) which then replaces this stage's own `[train]` ALS params.
//!
//! Backends (`[train] backend`, [`Params`]): `native` fits with alsflow's kernels in
//! process; `spark` hands `split.train` to Spark MLlib's ALS in one Spark application
//! and reads its factors back (`spark.rs`, `alsflow_spark`). Both give the same outputs.
//!
//! Outputs: `model` (an [`AlsModel`] via the codec), and `user_factors` /
//! `item_factors` Parquet tables with columns `idx` u32, `raw_id` utf8 and `factors`
//! FixedSizeList<f32, rank> (readable by pandas, polars and Spark).

mod params;
mod spark;

pub use params::{Params, KEYS};

use alsflow_als::{AlsError, AlsModel, AlsParams, InteractionMatrix};
use alsflow_core::catalog::{preprocess, split, train, tune};
use alsflow_core::table::{IdMap, Interactions};
use alsflow_core::{
    ArtifactName, InputSpec, Stage, StageContext, StageError, StageInputs, StageOutputs,
};
use alsflow_formats::factors::write_factors;
use alsflow_spark::Backend;
use std::time::Instant;

/// The `train` stage.
pub struct Train;

/// Map an ALS error onto the stage's error kinds (bad params stay named).
fn stage_error(e: AlsError, input: &str) -> StageError {
    match e {
        AlsError::BadParam { param, message } => StageError::BadParam {
            param: format!("train.{param}"),
            message,
        },
        AlsError::BadInput { row, message } => StageError::BadInput {
            source_name: input.to_string(),
            line: Some(row as u64 + 1),
            message,
        },
        e @ AlsError::Numerical { .. } => StageError::Numerical(e.to_string()),
        e => StageError::Other(e.to_string()),
    }
}

/// The ALS params as the key and the stored model see them: threads and the loss
/// trace change how a model is computed and logged, not its factors.
fn normalised(p: &AlsParams) -> AlsParams {
    AlsParams {
        threads: 0,
        compute_loss: false,
        ..p.clone()
    }
}

impl Stage for Train {
    const NAME: &'static str = "train";
    const INPUTS: &'static [InputSpec] = &[
        InputSpec::needs(split::TRAIN),
        InputSpec::needs(preprocess::USERS),
        InputSpec::needs(preprocess::ITEMS),
        InputSpec::uses_if_present(tune::BEST_PARAMS),
    ];
    const OUTPUTS: &'static [ArtifactName] = train::ALL;
    type Params = Params;

    /// Threads and the loss trace stay out of the key (and out of the stored model's
    /// params); the backend and, on Spark, what can change Spark's results stay in.
    fn key_params(params: &Params) -> Params {
        Params {
            als: normalised(&params.als),
            backend: params.backend,
            spark: match params.backend {
                Backend::Spark => params.spark.clone(),
                Backend::Native => None,
            },
        }
    }

    fn run(
        params: &Params,
        inputs: &StageInputs,
        ctx: &dyn StageContext,
    ) -> Result<StageOutputs, StageError> {
        let train_in = inputs.get(split::TRAIN.qualified)?;
        let table: Interactions = train_in.table()?;
        let users_in = inputs.get(preprocess::USERS.qualified)?;
        let items_in = inputs.get(preprocess::ITEMS.qualified)?;
        let users: IdMap = users_in.table()?;
        let items: IdMap = items_in.table()?;
        for (map, n, label) in [
            (&users, table.n_users, &users_in.label),
            (&items, table.n_items, &items_in.label),
        ] {
            if map.len() != n as usize {
                return Err(StageError::BadInput {
                    source_name: label.clone(),
                    line: None,
                    message: format!(
                        "{} ids, but {} has an index space of {n}",
                        map.len(),
                        train_in.label
                    ),
                });
            }
        }
        let (p, origin) = match inputs.optional_value::<AlsParams>(tune::BEST_PARAMS)? {
            // The tuned params, run with this stage's thread count and loss setting.
            Some(best) => (
                AlsParams {
                    threads: params.als.threads,
                    compute_loss: params.als.compute_loss,
                    ..best
                },
                tune::BEST_PARAMS.qualified,
            ),
            None => (params.als.clone(), "[train]"),
        };
        // The shape, for the summary: the native fit drops the table once the matrix
        // holds its rows.
        let shape = (table.n_users as usize, table.n_items as usize, table.len());
        let start = Instant::now();
        let (model, mut notes) = match params.backend {
            Backend::Native => fit_native(&p, table, &train_in.label, ctx)?,
            Backend::Spark => spark::fit(
                params.spark.as_ref(),
                &p,
                origin,
                train_in,
                (shape.0, shape.1),
                ctx,
            )
            .map(|(model, lines)| (model, Notes::from(lines)))?,
        };
        let secs = start.elapsed().as_secs_f64();
        let final_loss = notes.final_loss.take();

        let mut out = StageOutputs::new();
        out.put(
            train::MODEL,
            model
                .to_bytes()
                .map_err(|e| stage_error(e, train::MODEL.qualified))?,
        );
        // The factor tables record their output name as the table name.
        for (artifact, factors, ids) in [
            (train::USER_FACTORS, &model.user_factors, &users),
            (train::ITEM_FACTORS, &model.item_factors, &items),
        ] {
            out.put(
                artifact,
                write_factors(factors, model.rank, ids, artifact.output)?,
            );
        }
        out.note(format!(
            "{} users × {} items, {} interactions, rank {}",
            shape.0, shape.1, shape.2, model.rank
        ));
        out.note(format!(
            "params from {origin}: backend {:?}, solver {:?}, max_iter {}, reg_param {}, alpha {}, {:?} confidence, {:?} λ, nonnegative {}",
            params.backend, p.solver, p.max_iter, p.reg_param, p.alpha, p.confidence, p.reg_scaling, p.nonnegative
        ));
        // On Spark the stage's time is mostly the JVM and Spark's scheduling: its own
        // summary line splits it instead.
        if p.max_iter > 0 && params.backend == Backend::Native {
            out.note(format!(
                "{:.3} s/iteration ({secs:.2} s total)",
                secs / p.max_iter as f64
            ));
        }
        for n in notes.lines {
            out.note(n);
        }
        if let Some(l) = final_loss {
            out.note(format!("final loss {l:.6e}"));
        }
        Ok(out)
    }
}

/// Summary lines of a fit, and the final training loss when it was computed.
struct Notes {
    lines: Vec<String>,
    final_loss: Option<f64>,
}

impl From<Vec<String>> for Notes {
    fn from(lines: Vec<String>) -> Self {
        Notes {
            lines,
            final_loss: None,
        }
    }
}

/// Fit with alsflow's own kernels; the table is dropped once the matrix holds its
/// rows (at a million users the table is half a GB).
fn fit_native(
    p: &AlsParams,
    table: Interactions,
    label: &str,
    ctx: &dyn StageContext,
) -> Result<(AlsModel, Notes), StageError> {
    let matrix = InteractionMatrix::from_interactions(&table).map_err(|e| stage_error(e, label))?;
    drop(table);
    let progress = ctx.progress("iteration", p.max_iter as u64);
    let mut last = Instant::now();
    let mut model: AlsModel = alsflow_als::fit_observing(&matrix, p, &mut |iter, loss| {
        let took = last.elapsed().as_secs_f64();
        last = Instant::now();
        progress.set_message(match loss {
            Some(l) => format!("iteration {iter} took {took:.2} s, loss {l:.6e}"),
            None => format!("iteration {iter} took {took:.2} s"),
        });
        progress.inc(1);
    })
    .map_err(|e| stage_error(e, label))?;
    progress.finish();
    drop(matrix);
    // The thread count and the loss trace are how the model was computed and logged,
    // not part of it: factors are bit-identical for any value, so the stored model
    // holds the key's params and no trace, and its artifact id depends on neither.
    model.params = normalised(&model.params);
    let final_loss = model.loss.last().copied();
    model.loss.clear();
    Ok((
        model,
        Notes {
            lines: Vec::new(),
            final_loss,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alsflow_core::stage::LocalContext;
    use alsflow_core::{ArtifactId, Format, InputArtifact};
    use arrow::array::{Array, FixedSizeListArray, Float32Array, StringArray};

    fn input(label: &str, format: Format, bytes: Vec<u8>) -> InputArtifact {
        InputArtifact {
            id: ArtifactId::of(&bytes),
            label: label.into(),
            format,
            bytes: bytes.into(),
        }
    }

    fn inputs() -> StageInputs {
        let mut t = Interactions::with_dims(4, 3);
        for (u, i) in [(0, 0), (0, 1), (1, 1), (1, 2), (2, 0), (2, 2), (3, 1)] {
            t.user.push(u);
            t.item.push(i);
            t.value.push(1.0);
        }
        let ids = |p: &str, n: usize| IdMap {
            raw_ids: (0..n).map(|i| format!("{p}{i}")).collect(),
            titles: None,
        };
        let mut s = StageInputs::new();
        s.insert(
            "split.train",
            input("split.train", Format::Parquet, t.to_parquet().unwrap()),
        );
        s.insert(
            "preprocess.users",
            input(
                "preprocess.users",
                Format::Parquet,
                ids("u", 4).to_parquet().unwrap(),
            ),
        );
        s.insert(
            "preprocess.items",
            input(
                "preprocess.items",
                Format::Parquet,
                ids("i", 3).to_parquet().unwrap(),
            ),
        );
        s
    }

    fn als() -> AlsParams {
        AlsParams {
            rank: 3,
            max_iter: 4,
            threads: 1,
            compute_loss: true,
            ..AlsParams::default()
        }
    }

    fn params() -> Params {
        with(als())
    }

    fn with(als: AlsParams) -> Params {
        Params {
            als,
            ..Params::default()
        }
    }

    fn output<'a>(o: &'a StageOutputs, name: &str) -> &'a [u8] {
        &o.artifacts.iter().find(|a| a.name == name).unwrap().bytes
    }

    #[test]
    fn outputs_decode_and_agree_with_the_model() {
        let ctx = LocalContext::new("t");
        let out = Train::run(&params(), &inputs(), &ctx).unwrap();
        let names: Vec<&str> = out.artifacts.iter().map(|a| a.name.as_str()).collect();
        let declared: Vec<&str> = Train::OUTPUTS.iter().map(|a| a.output).collect();
        assert_eq!(names, declared);
        let model = AlsModel::from_bytes(output(&out, "model")).unwrap();
        assert_eq!(
            (model.n_users, model.n_items, model.rank, model.loss.len()),
            (4, 3, 3, 0),
            "the loss trace goes to the summary, not into the model"
        );
        let (batch, meta) = alsflow_core::table::read_batch(output(&out, "item_factors")).unwrap();
        assert_eq!(meta.get("rank").map(String::as_str), Some("3"));
        let raw = batch
            .column_by_name("raw_id")
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        assert_eq!(raw.value(2), "i2");
        let f = batch
            .column_by_name("factors")
            .unwrap()
            .as_any()
            .downcast_ref::<FixedSizeListArray>()
            .unwrap();
        assert_eq!(f.value_length(), 3);
        let v = f.values().as_any().downcast_ref::<Float32Array>().unwrap();
        assert_eq!(v.values().to_vec(), model.item_factors);
        assert!(
            out.summary.iter().any(|l| l.contains("s/iteration")),
            "{:?}",
            out.summary
        );
        assert!(
            out.summary.iter().any(|l| l.contains("final loss")),
            "{:?}",
            out.summary
        );
    }

    #[test]
    fn same_inputs_give_identical_bytes_for_any_thread_count() {
        let ctx = LocalContext::new("t");
        let a = Train::run(&params(), &inputs(), &ctx).unwrap();
        let b = Train::run(
            &with(AlsParams {
                threads: 2,
                ..als()
            }),
            &inputs(),
            &ctx,
        )
        .unwrap();
        for name in ["user_factors", "item_factors"] {
            assert_eq!(output(&a, name), output(&b, name), "{name}");
        }
        // The model's bytes, not only its factors, are the same: threads is not stored.
        assert_eq!(output(&a, "model"), output(&b, "model"));
        let (ma, mb) = (
            AlsModel::from_bytes(output(&a, "model")).unwrap(),
            AlsModel::from_bytes(output(&b, "model")).unwrap(),
        );
        assert_eq!(
            (ma.user_factors, ma.item_factors, ma.loss),
            (mb.user_factors, mb.item_factors, mb.loss)
        );
        assert_eq!(
            output(&a, "model"),
            Train::run(&params(), &inputs(), &ctx).unwrap().artifacts[0].bytes
        );
    }

    #[test]
    fn tuned_params_replace_the_stage_params() {
        let ctx = LocalContext::new("t");
        let mut s = inputs();
        let best = AlsParams {
            rank: 5,
            max_iter: 2,
            ..als()
        };
        s.insert(
            "tune.best_params",
            input(
                "tune.best_params",
                Format::Bincode,
                alsflow_core::codec::encode("p", &best).unwrap(),
            ),
        );
        let out = Train::run(&params(), &s, &ctx).unwrap();
        let model = AlsModel::from_bytes(output(&out, "model")).unwrap();
        // The tuned params, with the thread count and loss flag left out of the model.
        assert_eq!(
            model.params,
            AlsParams {
                threads: 0,
                compute_loss: false,
                ..best
            }
        );
        assert_eq!(model.rank, 5);
    }

    #[test]
    fn bad_rank_and_mismatched_ids_are_named_errors() {
        let ctx = LocalContext::new("t");
        let e = Train::run(&with(AlsParams { rank: 0, ..als() }), &inputs(), &ctx).unwrap_err();
        assert!(e.to_string().contains("train.rank"), "{e}");
        let mut s = inputs();
        let short = IdMap {
            raw_ids: vec!["u0".into()],
            titles: None,
        };
        s.insert(
            "preprocess.users",
            input(
                "preprocess.users",
                Format::Parquet,
                short.to_parquet().unwrap(),
            ),
        );
        let e = Train::run(&params(), &s, &ctx).unwrap_err();
        assert!(e.to_string().contains("preprocess.users"), "{e}");
    }
}
