//! `generate_id` throughput (target: at least 2 million IDs/s on one core).
#![allow(missing_docs)] // criterion_group! generates an undocumented public fn

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use neutrino_core::ids::{PlatformId, TenantId, generate_id};
use std::hint::black_box;

fn ids(c: &mut Criterion) {
    let mut g = c.benchmark_group("ids");
    g.throughput(Throughput::Elements(1));
    g.bench_function("generate_id", |b| b.iter(|| black_box(generate_id())));
    g.bench_function("PlatformId::generate", |b| {
        b.iter(|| black_box(PlatformId::generate()))
    });
    g.bench_function("TenantId::generate", |b| {
        b.iter(|| black_box(TenantId::generate()))
    });
    g.bench_function("PlatformId::parse", |b| {
        b.iter(|| black_box("k3m9p2xw7q").parse::<PlatformId>())
    });
    g.finish();
}

criterion_group!(benches, ids);
criterion_main!(benches);
