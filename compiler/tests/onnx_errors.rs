//! Every way the ONNX importer refuses a model, on small models built here
//! with the importer's own protobuf messages: each error names the node, its
//! operator and what is supported (messages snapshotted with insta).

use chimera_compiler::onnx::proto::{
    attribute_type, data_type, AttributeProto, Dimension, GraphProto, ModelProto, NodeProto,
    OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto, TensorTypeProto,
    TypeProto, ValueInfoProto,
};
use chimera_compiler::onnx::{import, ImportOptions};
use prost::Message;

fn dim(v: i64) -> Dimension {
    Dimension {
        dim_value: Some(v),
        dim_param: None,
    }
}

fn param(p: &str) -> Dimension {
    Dimension {
        dim_value: None,
        dim_param: Some(p.into()),
    }
}

fn value(name: &str, dims: Vec<Dimension>) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim: dims }),
            }),
        }),
    }
}

fn floats(name: &str, dims: &[i64], values: impl Fn(usize) -> f32) -> TensorProto {
    let n: i64 = dims.iter().product();
    TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: data_type::FLOAT,
        float_data: (0..n as usize).map(values).collect(),
        ..Default::default()
    }
}

fn ints(name: &str, values: &[i64]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: vec![values.len() as i64],
        data_type: data_type::INT64,
        int64_data: values.to_vec(),
        ..Default::default()
    }
}

fn node(op: &str, name: &str, inputs: &[&str], output: &str) -> NodeProto {
    NodeProto {
        op_type: op.into(),
        name: name.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        ..Default::default()
    }
}

fn with_ints(mut n: NodeProto, attr: &str, v: &[i64]) -> NodeProto {
    n.attribute.push(AttributeProto {
        name: attr.into(),
        r#type: attribute_type::INTS,
        ints: v.to_vec(),
        ..Default::default()
    });
    n
}

fn with_int(mut n: NodeProto, attr: &str, v: i64) -> NodeProto {
    n.attribute.push(AttributeProto {
        name: attr.into(),
        r#type: attribute_type::INT,
        i: v,
        ..Default::default()
    });
    n
}

/// A model: input `x` of `dims`, the nodes, output `y`.
fn model(dims: Vec<Dimension>, nodes: Vec<NodeProto>, inits: Vec<TensorProto>) -> ModelProto {
    ModelProto {
        ir_version: 8,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: 17,
        }],
        producer_name: "test".into(),
        producer_version: String::new(),
        graph: Some(GraphProto {
            node: nodes,
            name: "g".into(),
            initializer: inits,
            input: vec![value("x", dims)],
            output: vec![value("y", vec![])],
        }),
    }
}

fn image() -> Vec<Dimension> {
    vec![param("batch_size"), dim(1), dim(8), dim(8)]
}

fn vector() -> Vec<Dimension> {
    vec![param("batch_size"), dim(4)]
}

fn conv_weight() -> TensorProto {
    floats("conv.weight", &[2, 1, 3, 3], |i| i as f32 * 0.01)
}

fn error_of(m: &ModelProto) -> String {
    match import(&m.encode_to_vec(), &ImportOptions::default()) {
        Ok(imported) => panic!("imported:\n{}", imported.source),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_small_conv_model_imports() {
    let m = model(
        image(),
        vec![
            with_ints(
                node("Conv", "/conv/Conv", &["x", "conv.weight"], "c"),
                "pads",
                &[1, 1, 1, 1],
            ),
            node("Relu", "/Relu", &["c"], "r"),
            node("Flatten", "/Flatten", &["r"], "y"),
        ],
        vec![conv_weight()],
    );
    let imported = import(&m.encode_to_vec(), &ImportOptions::default()).expect("imports");
    assert!(
        imported
            .source
            .contains("conv = conv2d(x, 2, kernel = 3, padding = 1, bias = false)"),
        "{}",
        imported.source
    );
    assert!(
        imported.source.contains("output scores = y to client"),
        "{}",
        imported.source
    );
}

#[test]
fn bytes_that_are_not_a_model() {
    let e = import(b"\xff\xff\xff", &ImportOptions::default()).unwrap_err();
    insta::assert_snapshot!("onnx_error_decode", e.to_string());
}

#[test]
fn an_old_opset() {
    let mut m = model(vector(), vec![node("Relu", "r", &["x"], "y")], vec![]);
    m.opset_import[0].version = 9;
    insta::assert_snapshot!("onnx_error_opset", error_of(&m));
}

#[test]
fn an_unsupported_operator() {
    let m = model(vector(), vec![node("Erf", "/act/Erf", &["x"], "y")], vec![]);
    insta::assert_snapshot!("onnx_error_operator", error_of(&m));
}

/// Every unsupported node is named in one error, with its operator, its
/// opset and a suggested rewrite; supported nodes between them and an
/// unsupported node on a branch the output does not read are not listed.
#[test]
fn every_unsupported_operator_at_once() {
    let mut fused = node("FusedGemm", "/fc/FusedGemm", &["r"], "f");
    fused.domain = "com.microsoft".into();
    let mut m = model(
        vector(),
        vec![
            node("Erf", "/act/Erf", &["x"], "e"),
            node("Relu", "/act/Relu", &["e"], "r"),
            node("Exp", "/unused/Exp", &["x"], "unused"),
            fused,
            node("LeakyRelu", "", &["f"], "y"),
        ],
        vec![],
    );
    m.opset_import.push(OperatorSetIdProto {
        domain: "com.microsoft".into(),
        version: 1,
    });
    let e = error_of(&m);
    for expected in [
        "3 nodes use operators chimera cannot import",
        "node `/act/Erf`: operator `Erf` (opset 17)",
        "node `/fc/FusedGemm`: operator `com.microsoft::FusedGemm` (opset 1)",
        "node `#4 (output `y`)`: operator `LeakyRelu` (opset 17)",
        "use ReLU (nn.ReLU) for this activation",
        "chimera imports Gemm, MatMul, Conv",
    ] {
        assert!(e.contains(expected), "`{expected}` missing from:\n{e}");
    }
    assert!(!e.contains("Exp"), "a node the output does not read: {e}");
    insta::assert_snapshot!("onnx_error_operators", e);
}

#[test]
fn an_operator_of_another_domain() {
    let mut n = node("FusedGemm", "/fc/FusedGemm", &["x"], "y");
    n.domain = "com.microsoft".into();
    insta::assert_snapshot!(
        "onnx_error_domain",
        error_of(&model(vector(), vec![n], vec![]))
    );
}

#[test]
fn grouped_and_dilated_convolutions() {
    let grouped = with_int(
        node("Conv", "/conv/Conv", &["x", "conv.weight"], "y"),
        "group",
        2,
    );
    insta::assert_snapshot!(
        "onnx_error_conv_group",
        error_of(&model(image(), vec![grouped], vec![conv_weight()]))
    );
    let dilated = with_ints(
        node("Conv", "/conv/Conv", &["x", "conv.weight"], "y"),
        "dilations",
        &[2, 2],
    );
    insta::assert_snapshot!(
        "onnx_error_conv_dilation",
        error_of(&model(image(), vec![dilated], vec![conv_weight()]))
    );
    let asym = with_ints(
        node("Conv", "/conv/Conv", &["x", "conv.weight"], "y"),
        "pads",
        &[0, 0, 1, 1],
    );
    insta::assert_snapshot!(
        "onnx_error_conv_pads",
        error_of(&model(image(), vec![asym], vec![conv_weight()]))
    );
}

#[test]
fn a_dynamic_image_size() {
    let m = model(
        vec![param("batch_size"), dim(1), param("height"), dim(8)],
        vec![node("Relu", "/Relu", &["x"], "y")],
        vec![],
    );
    insta::assert_snapshot!("onnx_error_dynamic_dim", error_of(&m));
    let huge = model(
        vec![
            param("batch_size"),
            dim(1 << 24),
            dim(1 << 24),
            dim(1 << 24),
        ],
        vec![node("Relu", "/Relu", &["x"], "y")],
        vec![],
    );
    assert_eq!(
        error_of(&huge),
        "input `x`: shape [16777216, 16777216, 16777216] is too large"
    );
}

#[test]
fn an_unknown_attribute() {
    let relu = with_int(node("Relu", "/Relu", &["x"], "y"), "inplace", 1);
    insta::assert_snapshot!(
        "onnx_error_attribute",
        error_of(&model(vector(), vec![relu], vec![]))
    );
}

#[test]
fn softmax_inside_the_network() {
    let m = model(
        vector(),
        vec![
            node("Softmax", "/Softmax", &["x"], "s"),
            node("Relu", "/Relu", &["s"], "y"),
        ],
        vec![],
    );
    insta::assert_snapshot!("onnx_error_softmax_inside", error_of(&m));
}

#[test]
fn batchnorm_after_an_activation() {
    let stats: Vec<TensorProto> = ["bn.weight", "bn.bias", "bn.running_mean", "bn.running_var"]
        .iter()
        .map(|n| floats(n, &[4], |_| 1.0))
        .collect();
    let m = model(
        vector(),
        vec![
            node("Relu", "/Relu", &["x"], "r"),
            node(
                "BatchNormalization",
                "/bn/BatchNormalization",
                &[
                    "r",
                    "bn.weight",
                    "bn.bias",
                    "bn.running_mean",
                    "bn.running_var",
                ],
                "y",
            ),
        ],
        stats,
    );
    insta::assert_snapshot!("onnx_error_batchnorm", error_of(&m));
}

#[test]
fn reshapes_that_are_not_constant_or_move_the_batch() {
    let m = model(
        image(),
        vec![
            node("Relu", "/Relu", &["x"], "r"),
            node("Reshape", "/Reshape", &["x", "r"], "y"),
        ],
        vec![],
    );
    insta::assert_snapshot!("onnx_error_reshape_dynamic", error_of(&m));
    let m = model(
        image(),
        vec![node("Reshape", "/Reshape", &["x", "shape"], "y")],
        vec![ints("shape", &[1, -1])],
    );
    insta::assert_snapshot!("onnx_error_reshape_batch", error_of(&m));
    let flat = with_int(node("Flatten", "/Flatten", &["x"], "y"), "axis", 2);
    insta::assert_snapshot!(
        "onnx_error_flatten_axis",
        error_of(&model(image(), vec![flat], vec![]))
    );
}

#[test]
fn padded_pools_and_transposed_gemm_inputs() {
    let pool = with_ints(
        with_ints(
            node("MaxPool", "/pool/MaxPool", &["x"], "y"),
            "kernel_shape",
            &[2, 2],
        ),
        "pads",
        &[1, 1, 1, 1],
    );
    insta::assert_snapshot!(
        "onnx_error_pool_pads",
        error_of(&model(image(), vec![pool], vec![]))
    );
    let gemm = with_int(
        node("Gemm", "/fc/Gemm", &["x", "fc.weight"], "y"),
        "transA",
        1,
    );
    let w = floats("fc.weight", &[3, 4], |i| i as f32);
    insta::assert_snapshot!(
        "onnx_error_gemm_trans_a",
        error_of(&model(vector(), vec![gemm], vec![w]))
    );
}

#[test]
fn constants_the_language_cannot_apply() {
    let m = model(
        vector(),
        vec![node("Mul", "/Mul", &["x", "k"], "y")],
        vec![floats("k", &[4], |i| i as f32)],
    );
    insta::assert_snapshot!("onnx_error_mul_vector", error_of(&m));
    let m = model(
        vector(),
        vec![
            node("Relu", "/Relu", &["x"], "r"),
            node("Add", "/Add", &["r", "k"], "y"),
        ],
        vec![floats("k", &[4], |i| i as f32)],
    );
    insta::assert_snapshot!("onnx_error_add_constant", error_of(&m));
}

#[test]
fn graphs_with_two_outputs_undefined_values_or_constant_outputs() {
    let mut m = model(vector(), vec![node("Relu", "/Relu", &["x"], "y")], vec![]);
    if let Some(g) = m.graph.as_mut() {
        g.output.push(value("z", vec![]));
    }
    insta::assert_snapshot!("onnx_error_two_outputs", error_of(&m));
    let m = model(
        vector(),
        vec![node("Relu", "/Relu", &["nowhere"], "y")],
        vec![],
    );
    insta::assert_snapshot!("onnx_error_undefined", error_of(&m));
    let m = model(
        vector(),
        vec![node("Identity", "/Identity", &["k"], "y")],
        vec![floats("k", &[4], |_| 1.0)],
    );
    insta::assert_snapshot!("onnx_error_constant_output", error_of(&m));
}

#[test]
fn tensors_that_lie_or_live_elsewhere() {
    let mut w = floats("fc.weight", &[3, 4], |i| i as f32);
    w.float_data.truncate(5);
    let gemm = with_int(
        node("Gemm", "/fc/Gemm", &["x", "fc.weight"], "y"),
        "transB",
        1,
    );
    insta::assert_snapshot!(
        "onnx_error_tensor_length",
        error_of(&model(vector(), vec![gemm.clone()], vec![w]))
    );
    let mut w = floats("fc.weight", &[3, 4], |_| 0.0);
    w.float_data.clear();
    w.data_location = 1;
    w.external_data = vec![StringStringEntryProto {
        key: "location".into(),
        value: "model.onnx.data".into(),
    }];
    insta::assert_snapshot!(
        "onnx_error_external",
        error_of(&model(vector(), vec![gemm], vec![w]))
    );
}
