//! Tests of `TensorProto` decoding and encoding. The expected values of the
//! typed-field cases were read back from TensorFlow 2.21 (a `Const` node
//! holding the proto, run in a session).

use super::*;
use proptest::prelude::*;
use ptq_ir::DType;

fn proto(dtype: DType, shape: &[i64]) -> pb::TensorProto {
    let dim = shape.iter().map(|&size| pb::tensor_shape_proto::Dim { size, name: String::new() }).collect();
    pb::TensorProto {
        dtype: to_tf(dtype) as i32,
        tensor_shape: Some(pb::TensorShapeProto { dim, unknown_rank: false }),
        ..Default::default()
    }
}

/// The error of a decode that must fail (without printing a large tensor).
fn err(p: &pb::TensorProto) -> String {
    match decode(p) {
        Ok(t) => panic!("decoded a {} tensor of shape {:?}", t.dtype(), t.shape()),
        Err(e) => e,
    }
}

fn i64s(t: &Tensor) -> Vec<i64> {
    t.to_i64_vec().unwrap()
}

#[test]
fn typed_fields_repeat_the_last_value_and_ignore_extras() {
    let mut p = proto(DType::I64, &[3]);
    p.int64_val = vec![-5];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![-5, -5, -5]);
    let mut p = proto(DType::F32, &[2]);
    p.float_val = vec![1.0, 2.0, 3.0, 4.0];
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![1.0, 2.0]);
    let mut p = proto(DType::String, &[3]);
    p.string_val = vec![b"a".to_vec(), b"bc".to_vec()];
    let t = decode(&p).unwrap();
    assert_eq!(
        t,
        Tensor::String(ArrayD::from_shape_vec(IxDyn(&[3]), vec!["a".into(), "bc".into(), "bc".into()]).unwrap())
    );
    let mut p = proto(DType::Bool, &[3]);
    p.bool_val = vec![true, false];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![1, 0, 0]);
    let p = proto(DType::F64, &[2]);
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![0.0, 0.0]);
}

#[test]
fn typed_fields_take_tensorflows_field_per_dtype() {
    let mut p = proto(DType::I8, &[3]);
    p.int_val = vec![300, -1];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![44, -1, -1]);
    let mut p = proto(DType::U8, &[2]);
    p.int_val = vec![-1, 261];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![255, 5]);
    let mut p = proto(DType::I16, &[2]);
    p.int_val = vec![70000];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![4464, 4464]);
    // uint32 reads uint32_val only; bool reads bool_val only; half reads half_val only.
    let mut p = proto(DType::U32, &[2]);
    p.int_val = vec![7];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![0, 0]);
    p.uint32_val = vec![7];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![7, 7]);
    let mut p = proto(DType::Bool, &[2]);
    p.int_val = vec![1];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![0, 0]);
    let mut p = proto(DType::F16, &[2]);
    p.float_val = vec![1.5];
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![0.0, 0.0]);
    p.half_val = vec![0x3C00];
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![1.0, 1.0]);
    let mut p = proto(DType::BF16, &[2]);
    p.half_val = vec![0x3F80, 0x4000];
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![1.0, 2.0]);
    let mut p = proto(DType::U64, &[2]);
    p.uint64_val = vec![(1 << 63) + 1];
    assert_eq!(decode(&p).unwrap(), Tensor::U64(ArrayD::from_elem(IxDyn(&[2]), (1 << 63) + 1)));
    let mut p = proto(DType::F8E4M3FN, &[3]);
    p.float8_val = vec![0x38];
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![1.0; 3]);
    let mut p = proto(DType::I4, &[4]);
    p.int_val = vec![1, -2, 9];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![1, -2, -7, -7]);
    let mut p = proto(DType::U4, &[3]);
    p.int_val = vec![15, 17];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![15, 1, 1]);
}

#[test]
fn tensor_content_must_match_the_shape_exactly() {
    let mut p = proto(DType::F32, &[2]);
    p.tensor_content = vec![0; 4];
    assert!(err(&p).contains("needs 8 bytes but 4"));
    p.tensor_content = vec![0; 12];
    assert!(decode(&p).is_err());
    p.tensor_content = [1.5f32.to_le_bytes(), (-2.0f32).to_le_bytes()].concat();
    assert_eq!(decode(&p).unwrap().to_f64_vec(), vec![1.5, -2.0]);
    // int4 takes a byte per element, as in TensorFlow's memory.
    let mut p = proto(DType::I4, &[4]);
    p.tensor_content = vec![0x21, 0x43];
    assert!(decode(&p).is_err());
    p.tensor_content = vec![1, 2, 0xFE, 4];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![1, 2, -2, 4]);
    // Only the low four bits count (TensorFlow reads 0x0E as -2, 0x17 as 7).
    p.tensor_content = vec![0x0E, 0x17, 0x80, 0x7F];
    assert_eq!(i64s(&decode(&p).unwrap()), vec![-2, 7, 0, -1]);
    // Strings: varint32 lengths, then the bytes.
    let mut p = proto(DType::String, &[2]);
    p.tensor_content = b"\x01\x02abc".to_vec();
    assert_eq!(
        decode(&p).unwrap(),
        Tensor::String(ArrayD::from_shape_vec(IxDyn(&[2]), vec!["a".into(), "bc".into()]).unwrap())
    );
    p.tensor_content = b"\x01\x02abcd".to_vec();
    assert!(decode(&p).is_err());
    p.tensor_content = b"\x01\x05abc".to_vec();
    assert!(decode(&p).is_err());
    p.tensor_content = b"\x01\x02a\xFFb".to_vec();
    assert!(err(&p).contains("UTF-8"));
}

#[test]
fn bad_shapes_and_dtypes_are_errors() {
    let mut p = proto(DType::F32, &[-1]);
    p.float_val = vec![1.0];
    assert!(err(&p).contains("not a known size"));
    let mut p = proto(DType::F32, &[1 << 40, 1 << 40]);
    p.float_val = vec![1.0];
    assert!(err(&p).contains("more than 2^63 - 1"));
    let mut p = proto(DType::F32, &[1 << 20, 1 << 20]);
    p.float_val = vec![1.0];
    assert!(err(&p).contains("limit"));
    p.tensor_content = vec![0; 8];
    assert!(err(&p).contains("needs"));
    let mut p = proto(DType::String, &[1 << 16]);
    p.string_val = vec![vec![b'x'; 1 << 16]];
    assert!(err(&p).contains("limit"));
    // No elements: the data is not looked at, the shape must still be sane.
    let p = proto(DType::F32, &[0, 1 << 62]);
    assert_eq!(decode(&p).unwrap().shape(), &[0, 1 << 62]);
    let p = proto(DType::F32, &[0, 1 << 62, 4]);
    assert!(decode(&p).is_err());
    let mut p = proto(DType::F32, &[]);
    p.tensor_shape.as_mut().unwrap().unknown_rank = true;
    assert!(decode(&p).is_err());
    p.tensor_shape = None;
    p.float_val = vec![3.0];
    assert_eq!(decode(&p).unwrap(), Tensor::scalar_f32(3.0));
    p.dtype = 8;
    assert_eq!(err(&p), "dtype DT_COMPLEX64 is not supported");
    let mut p = proto(DType::F32, &[]);
    p.tensor_shape.as_mut().unwrap().dim = vec![pb::tensor_shape_proto::Dim { size: 1, name: String::new() }; 255];
    assert!(err(&p).contains("rank 255"));
}

fn arb_tensor() -> impl Strategy<Value = Tensor> {
    (0..DType::ALL.len(), proptest::collection::vec(0usize..4, 0..4), any::<u64>()).prop_map(|(d, shape, seed)| {
        let dtype = DType::ALL[d];
        let n: usize = shape.iter().product();
        let mut x = seed;
        let mut next = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        };
        match dtype {
            DType::String => {
                let v = (0..n).map(|_| "é".repeat(usize::from(next() % 3))).collect();
                Tensor::String(ArrayD::from_shape_vec(IxDyn(&shape), v).unwrap())
            }
            DType::I4 => Tensor::I4(
                ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| (next() % 16) as i8 - 8).collect()).unwrap(),
            ),
            DType::U4 => {
                Tensor::U4(ArrayD::from_shape_vec(IxDyn(&shape), (0..n).map(|_| next() % 16).collect()).unwrap())
            }
            DType::Bool => {
                Tensor::from_le_bytes(dtype, &shape, &(0..n).map(|_| next() & 1).collect::<Vec<_>>()).unwrap()
            }
            _ => {
                let bytes: Vec<u8> = (0..dtype.packed_len(n).unwrap()).map(|_| next()).collect();
                Tensor::from_le_bytes(dtype, &shape, &bytes).unwrap()
            }
        }
    })
}

proptest! {
    #[test]
    fn encode_decode_round_trip(t in arb_tensor()) {
        let back = decode(&encode(&t)).unwrap();
        // NaN != NaN: compare the bytes of fixed-width tensors.
        prop_assert_eq!(back.dtype(), t.dtype());
        prop_assert_eq!(back.shape(), t.shape());
        match (back.to_le_bytes(), t.to_le_bytes()) {
            (Some(a), Some(b)) => prop_assert_eq!(a, b),
            _ => prop_assert_eq!(back, t),
        }
    }

    /// Any decodable proto bytes give a tensor or an error, never a panic.
    #[test]
    fn arbitrary_protos_never_panic(t in arb_tensor(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6), cut in any::<usize>()) {
        use prost::Message;
        let mut b = encode(&t).encode_to_vec();
        for (i, x) in flips {
            if !b.is_empty() {
                let n = b.len();
                b[i % n] ^= x;
            }
        }
        b.truncate(cut % (b.len() + 1));
        if let Ok(p) = pb::TensorProto::decode(&b[..]) {
            let _ = decode(&p);
        }
    }
}
