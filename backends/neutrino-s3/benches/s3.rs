//! Put + get of a 1 MiB object through `S3ObjectStore` against the same calls
//! made with plain aws-sdk-s3 code, both on the same SDK client and the same
//! in-process S3 server on 127.0.0.1. Target: the adapter within 2× of plain SDK
//! code (it adds no copies: the put body is the caller's `Bytes`, the get body is
//! collected once).
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

#[path = "../tests/support/mod.rs"]
mod support;

use std::hint::black_box;

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use neutrino_core::object::{ObjectStore, PutOptions};
use neutrino_s3::S3ObjectStore;
use support::Server;

const SIZE: usize = 1024 * 1024;
const BUCKET: &str = "bench-bucket";

fn put_get_1mib(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (server, store) = rt.block_on(async {
        let server = Server::start().await;
        server.create_bucket(BUCKET);
        let store = S3ObjectStore::new(server.client().await, BUCKET).unwrap();
        (server, store)
    });
    let sdk = store.client().sdk().clone();
    let data: Bytes = (0..SIZE)
        .map(|i| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let opts = PutOptions::default();

    let mut g = c.benchmark_group("s3_put_get_1mib");
    g.throughput(Throughput::Bytes(2 * SIZE as u64));
    g.sample_size(30);
    g.bench_function("S3ObjectStore", |b| {
        b.to_async(&rt).iter(|| async {
            store.put("bench/a", data.clone(), &opts).await.unwrap();
            let got = store.get("bench/a").await.unwrap();
            assert_eq!(got.data.len(), SIZE);
            black_box(got);
        })
    });
    g.bench_function("plain aws-sdk-s3", |b| {
        b.to_async(&rt).iter(|| async {
            sdk.put_object()
                .bucket(BUCKET)
                .key("bench/b")
                .body(ByteStream::from(data.clone()))
                .send()
                .await
                .unwrap();
            let got = sdk
                .get_object()
                .bucket(BUCKET)
                .key("bench/b")
                .send()
                .await
                .unwrap()
                .body
                .collect()
                .await
                .unwrap()
                .into_bytes();
            assert_eq!(got.len(), SIZE);
            black_box(got);
        })
    });
    g.finish();
    drop(rt);
    drop(server);
}

criterion_group!(benches, put_get_1mib);
criterion_main!(benches);
