//! Tests of plan validation: its structure, and the size limits of
//! [`crate::limits`], one test per limit (just over it refused, at it
//! accepted). Validation only counts: none of these plans is built.

use crate::cost::{self, CostError};
use crate::limits::{self, Limit, LimitError};
use crate::limits::{MAX_BATCH, MAX_CIRCUIT_INPUTS, MAX_ELEMENTS, MAX_QUERY_WORDS};
use crate::oracle::testing::PlanBuilder;
use crate::plan::{DebugInfo, Op, Party, Plan, PlanError, Reveal, SavedPlan};

/// The size problems `validate` reports (panics on anything else).
fn too_large(plan: &Plan) -> Vec<LimitError> {
    match plan.validate() {
        Err(PlanError::TooLarge(errors)) => errors,
        other => panic!("expected sizes beyond the limits, got {other:?}"),
    }
}

/// The one limit a plan passes, and the size measured.
fn passes(plan: &Plan) -> (Limit, Option<usize>) {
    match too_large(plan).as_slice() {
        [LimitError::Value { exceeded, .. } | LimitError::Step { exceeded, .. }] => {
            (exceeded.limit, exceeded.size)
        }
        other => panic!("expected one problem, got {other:?}"),
    }
}

/// A plan revealing the input of shape `shape` as it is.
fn identity(shape: &[usize]) -> Plan {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", shape);
    b.output("scores", x, Reveal::Scores);
    b.plan
}

/// Found while auditing the runtime: a plan file (outside input, its
/// hash recomputed) whose shape's element count overflows `usize` made
/// every size computation panic (debug) or wrap to nonsense (release).
/// `validate`, which runs when a plan is loaded, now refuses it, and any
/// value over [`MAX_ELEMENTS`].
#[test]
fn a_value_with_too_many_elements_is_refused() {
    assert!(identity(&[4]).validate().is_ok());
    assert!(identity(&[MAX_ELEMENTS]).validate().is_ok());
    assert!(identity(&[1, 4096, 4096]).validate().is_ok());
    let plan = identity(&[MAX_ELEMENTS + 1]);
    assert_eq!(passes(&plan), (Limit::Elements, Some(MAX_ELEMENTS + 1)));
    let err = plan.validate().unwrap_err().to_string();
    assert!(
        err.contains("value %0 `x`: shape [16777217]: 16777217 elements, over the limit of 16777216 (2^24) elements per tensor"),
        "{err}"
    );
    let plan = identity(&[1 << 32, 1 << 32, 1 << 32]);
    assert_eq!(plan.values[0].len(), usize::MAX);
    assert_eq!(passes(&plan), (Limit::Elements, None));
    let err = plan.validate().unwrap_err().to_string();
    assert!(
        err.contains("shape [4294967296, 4294967296, 4294967296]: more than 2^64 elements"),
        "{err}"
    );
    // What the old limit (2^40) let through.
    assert_eq!(passes(&identity(&[1 << 20, 1 << 20])).0, Limit::Elements);
}

/// A dense layer's weights: 2^14 × 2^14 is the limit, one more output is over.
#[test]
fn a_plan_with_a_layer_of_too_many_weights_is_refused() {
    let dense = |out: usize| {
        let mut b = PlanBuilder::new(16);
        let x = b.input("x", &[1 << 14]);
        let y = b.dense(x, "fc", out, true);
        b.output("scores", y, Reveal::Scores);
        b.plan
    };
    assert!(dense(1 << 14).validate().is_ok());
    let plan = dense((1 << 14) + 1);
    assert_eq!(passes(&plan), (Limit::Weights, Some(((1 << 14) + 1) << 14)));
    let err = plan.validate().unwrap_err().to_string();
    assert!(
        err.contains("step 0 (dense, layer `fc`): weights [16385, 16384]: 268451840 weights, over the limit of 268435456 (2^28) weights per linear layer"),
        "{err}"
    );
}

/// The executor sizes a dense layer's result by `out_features`, not by the
/// declared value: a plan whose op says more than its value is refused on
/// the op's numbers.
#[test]
fn a_plan_whose_layer_parameters_outgrow_its_values_is_refused() {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[1]);
    let y = b.dense(x, "fc", 4, true);
    b.output("scores", y, Reveal::Scores);
    let mut plan = b.plan;
    assert!(plan.validate().is_ok());
    let Op::Dense { out_features, .. } = &mut plan.steps[0].op else {
        panic!("a dense step first");
    };
    *out_features = MAX_ELEMENTS + 1;
    assert_eq!(passes(&plan), (Limit::Elements, Some(MAX_ELEMENTS + 1)));
    let err = plan.validate().unwrap_err().to_string();
    assert!(
        err.contains("step 0 (dense, layer `fc`): the output [16777217]: 16777217 elements"),
        "{err}"
    );
}

/// A conv2d within the element and weight limits that would do too much
/// work: 1024² outputs of a 64×64 kernel are 2^32 multiply-adds per row (the
/// limit), of a 65×65 kernel more.
#[test]
fn a_plan_with_a_layer_of_too_many_multiply_adds_is_refused() {
    let conv = |k: usize| {
        let mut b = PlanBuilder::new(16);
        let x = b.input("x", &[1, 1023 + k, 1023 + k]);
        let y = b.conv(x, "conv", 1, k, 1, 0);
        b.output("scores", y, Reveal::Scores);
        b.plan
    };
    let at = conv(64);
    assert_eq!(at.values[at.steps[0].output.index()].shape, [1, 1024, 1024]);
    assert!(at.validate().is_ok());
    let over = conv(65);
    assert_eq!(passes(&over), (Limit::Macs, Some((1 << 20) * 65 * 65)));
    let err = over.validate().unwrap_err().to_string();
    assert!(
        err.contains("step 0 (conv2d, layer `conv`): the layer on one row: 4430233600 multiply-adds, over the limit of 4294967296 (2^32)"),
        "{err}"
    );
}

/// An argmax is one circuit over all its scores: 2^14 is the limit; over it
/// (here 2^20, which would take minutes and gigabytes to build) is refused
/// without building anything.
#[test]
fn a_plan_with_an_argmax_over_too_many_scores_is_refused() {
    let argmax = |n: usize| {
        let mut b = PlanBuilder::new(16);
        let x = b.input("x", &[n]);
        let label = b.argmax(x);
        b.output("label", label, Reveal::Label);
        b.plan
    };
    assert!(argmax(MAX_CIRCUIT_INPUTS).validate().is_ok());
    assert_eq!(
        passes(&argmax(MAX_CIRCUIT_INPUTS + 1)),
        (Limit::CircuitInputs, Some(MAX_CIRCUIT_INPUTS + 1))
    );
    let err = argmax(1 << 20).validate().unwrap_err().to_string();
    assert!(
        err.contains("(argmax, layer `argmax`): an argmax over 1048576 scores: 1048576 inputs, over the limit of 16384 (2^14) inputs per boolean circuit"),
        "{err}"
    );
}

/// A maxpool window is one circuit: 128×128 is the limit; a larger window
/// is refused whatever the input (the circuit would be built before the
/// window is found not to fit), also one whose area overflows.
#[test]
fn a_plan_with_a_maxpool_window_too_large_is_refused() {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[1, 128, 128]);
    let y = b.maxpool(x, 128);
    b.output("scores", y, Reveal::Scores);
    let mut plan = b.plan;
    let pool = plan
        .steps
        .iter()
        .position(|s| matches!(s.op, Op::MaxPool { .. }))
        .expect("a maxpool step");
    assert!(plan.validate().is_ok());
    plan.steps[pool].op = Op::MaxPool {
        kernel: [128, 129],
        stride: [1, 1],
    };
    assert_eq!(passes(&plan), (Limit::CircuitInputs, Some(128 * 129)));
    let err = plan.validate().unwrap_err().to_string();
    assert!(
        err.contains("a maxpool window of 128×129: 16512 inputs"),
        "{err}"
    );
    plan.steps[pool].op = Op::MaxPool {
        kernel: [1 << 40, 1 << 40],
        stride: [1, 1],
    };
    assert_eq!(passes(&plan), (Limit::CircuitInputs, None));
}

/// A pooling step gathers every window element: a 4×4 window at stride 1
/// over the largest image is within the limit, a 5×5 one is not.
#[test]
fn a_plan_with_a_pooling_step_reading_too_much_is_refused() {
    let sumpool = |k: usize| {
        let mut b = PlanBuilder::new(16);
        let x = b.input("x", &[1, 4096, 4096]);
        let y = b.avgpool(x, k);
        b.output("scores", y, Reveal::Scores);
        let mut plan = b.plan;
        for s in &mut plan.steps {
            if let Op::SumPool { stride, .. } = &mut s.op {
                *stride = [1, 1];
            }
        }
        plan
    };
    let at = sumpool(4);
    assert!(at.validate().is_ok());
    assert_eq!(limits::row_words(&at), 4093 * 4093 * 16);
    let over = sumpool(5);
    assert_eq!(passes(&over), (Limit::PoolReads, Some(4092 * 4092 * 25)));
    let err = over.validate().unwrap_err().to_string();
    assert!(
        err.contains("(sumpool, layer `avg`): 5×5 windows over [1, 4092, 4092]: 418611600 window reads, over the limit of 268435456 (2^28)"),
        "{err}"
    );
}

/// A query's batch: at least one row, at most [`MAX_BATCH`], and at most
/// [`MAX_QUERY_WORDS`] words of the plan's largest step over its rows; the
/// cost model (and with it the dealer's demand, the frame limit and the
/// executor) refuses any other before sizing anything by it.
#[test]
fn a_query_batch_beyond_the_limits_is_refused_for_the_plan() {
    let small = identity(&[4]);
    assert_eq!(limits::batch(&small, 1), Ok(()));
    assert_eq!(limits::batch(&small, MAX_BATCH), Ok(()));
    assert_eq!(limits::batch(&small, 0), Err(LimitError::NoRows));
    for rows in [MAX_BATCH + 1, u32::MAX as usize] {
        let Err(LimitError::Batch { exceeded, .. }) = limits::batch(&small, rows) else {
            panic!("{rows} rows accepted");
        };
        assert_eq!((exceeded.limit, exceeded.size), (Limit::Batch, Some(rows)));
    }
    let err = limits::batch(&small, u32::MAX as usize)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("a query of 4294967295 rows: the batch: 4294967295 rows, over the limit of 65536 (2^16) rows per query"),
        "{err}"
    );
    let wide = identity(&[1 << 20]);
    assert_eq!(limits::batch(&wide, MAX_QUERY_WORDS >> 20), Ok(()));
    let Err(LimitError::Batch { exceeded, .. }) = limits::batch(&wide, (MAX_QUERY_WORDS >> 20) + 1)
    else {
        panic!("257 rows of 2^20 words accepted");
    };
    assert_eq!(exceeded.limit, Limit::QueryWords);
    for rows in [0, MAX_BATCH + 1] {
        assert!(matches!(
            cost::plan_cost(&small, rows),
            Err(CostError::TooLarge(_))
        ));
        assert!(matches!(
            cost::demand(&small, rows, 1),
            Err(CostError::TooLarge(_))
        ));
    }
    assert!(cost::plan_cost(&small, MAX_BATCH).is_ok());
}

/// A plan file beyond the limits (its hash recomputed, as anyone can) is
/// refused by the loader every party uses, and by the weight binding of a
/// plan built in memory, with the step, the size and the limit named.
#[test]
fn a_plan_file_beyond_the_limits_is_refused_when_loaded() {
    let mut b = PlanBuilder::new(16);
    let x = b.input("x", &[1 << 20]);
    let label = b.argmax(x);
    b.output("label", label, Reveal::Label);
    let plan = b.plan;
    let text = SavedPlan::new(plan.clone(), DebugInfo::default())
        .and_then(|s| s.to_ron())
        .expect("a plan serializes");
    let err = SavedPlan::from_ron(&text, "big.ron").unwrap_err();
    let PlanError::Rejected { path, source } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(path, "big.ron");
    assert!(
        matches!(&**source, PlanError::TooLarge(e) if e.len() == 1),
        "{err:?}"
    );
    let shown = err.to_string();
    assert!(
        shown.starts_with("big.ron: the plan is too large to run"),
        "{shown}"
    );
    assert!(shown.contains("an argmax over 1048576 scores"), "{shown}");
    let bound = crate::weights::bind(&plan, &[]);
    assert!(
        matches!(
            bound,
            Err(crate::weights::WeightsError::InvalidPlan(
                PlanError::TooLarge(_)
            ))
        ),
        "{bound:?}"
    );
}

/// The executor shares every input from the client's batch, whatever
/// `owner` says; a plan file naming the server as an input's owner is
/// refused instead of running with the client supplying it.
#[test]
fn an_input_owned_by_the_server_is_refused() {
    let mut plan = identity(&[4]);
    plan.inputs[0].owner = Party::Server;
    let err = plan.validate().unwrap_err().to_string();
    assert!(
        err.contains("is owned by the server: the executor takes every input from the client"),
        "{err}"
    );
}
