//! The tenant-scoped store: rows of another tenant, scope columns, listing, sub-tenants, declared tables.

use super::*;

/// Tenant A's scope with tenant B's row ID: every operation is `NotFound`, and B's
/// row is unchanged.
pub async fn another_tenants_row_is_not_found_for_every_operation(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p, other_p) = (platform(&r).await, platform(&r).await);
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let c = tenant(&r, other_p).await;
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    let (sa, sb, sc) = (
        scope(&r, p, a).await,
        scope(&r, p, b).await,
        scope(&r, other_p, c).await,
    );
    let id = s
        .insert(&sb, &t, Record::new().set("label", "b's").set("n", 1_i64))
        .await
        .unwrap();
    for foreign in [&sa, &sc] {
        assert!(s.get(foreign, &t, &id).await.unwrap_err().is_not_found());
        let e = s
            .update(foreign, &t, &id, Record::new().set("label", "stolen"))
            .await
            .unwrap_err();
        assert!(e.is_not_found(), "{e:?}");
        assert!(s.delete(foreign, &t, &id).await.unwrap_err().is_not_found());
        let page = s.list(foreign, &t, &ListQuery::new()).await.unwrap();
        assert!(page.rows.is_empty());
    }
    let missing = s.get(&sa, &t, "no-such-id").await.unwrap_err();
    let foreign = s.get(&sa, &t, &id).await.unwrap_err();
    assert_eq!(
        missing.to_string().replace("no-such-id", "X"),
        foreign.to_string().replace(&id, "X"),
        "another tenant's row must look exactly like a missing one"
    );
    let row = s.get(&sb, &t, &id).await.unwrap();
    assert_eq!(row.get::<String>("label").unwrap(), "b's");
    // The same id may be used by another tenant without revealing the first.
    let same = s
        .insert(
            &sa,
            &t,
            Record::new().set("id", id.as_str()).set("label", "a's"),
        )
        .await
        .unwrap();
    assert_eq!(same, id);
    for (scope, label) in [(&sb, "b's"), (&sa, "a's")] {
        let row = s.get(scope, &t, &id).await.unwrap();
        assert_eq!(row.get::<String>("label").unwrap(), label);
    }
    let e = s
        .insert(&sa, &t, Record::new().set("id", id.as_str()))
        .await
        .unwrap_err();
    assert!(e.is_already_exists(), "{e:?}");
}

/// Inserts set `platform_id`/`tenant_id`; callers can neither set nor change them.
pub async fn scope_columns_are_set_by_the_scope_and_never_written(stores: &Stores) {
    let clock = ManualClock::new();
    let TwoTenants { r, p, a, b, t, s } = two_tenants(stores, &clock).await;
    let sa = scope(&r, p, a).await;
    let id = s
        .insert(&sa, &t, Record::new().set("label", "x"))
        .await
        .unwrap();
    let row = s.get(&sa, &t, &id).await.unwrap();
    assert_eq!(row.get::<String>("platform_id").unwrap(), p.as_str());
    assert_eq!(row.get::<String>("tenant_id").unwrap(), a.as_str());
    for col in ["tenant_id", "platform_id"] {
        let e = s
            .insert(&sa, &t, Record::new().set(col, b.as_str()))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{col}: {e:?}");
    }
    for col in ["tenant_id", "platform_id", "id"] {
        let e = s
            .update(&sa, &t, &id, Record::new().set(col, b.as_str()))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{col}: {e:?}");
    }
    s.update(
        &sa,
        &t,
        &id,
        Record::new().set("label", "y").set("n", 7_i64),
    )
    .await
    .unwrap();
    let row = s.get(&sa, &t, &id).await.unwrap();
    assert_eq!(row.get::<String>("tenant_id").unwrap(), a.as_str());
    assert_eq!(row.get::<i64>("n").unwrap(), 7);
    s.delete(&sa, &t, &id).await.unwrap();
    assert!(s.get(&sa, &t, &id).await.unwrap_err().is_not_found());
}

/// Filters bind values, ordering is stable, and cursors visit every row once.
pub async fn list_filters_orders_and_pages(stores: &Stores) {
    let clock = ManualClock::new();
    let TwoTenants { r, p, a, b, t, s } = two_tenants(stores, &clock).await;
    let (sa, sb) = (scope(&r, p, a).await, scope(&r, p, b).await);
    for i in 0..23_i64 {
        let n: Value = if i % 5 == 0 {
            Value::Null
        } else {
            Value::Integer(i % 7)
        };
        s.insert(
            &sa,
            &t,
            Record::new().set("label", format!("a{i:02}")).set("n", n),
        )
        .await
        .unwrap();
        s.insert(
            &sb,
            &t,
            Record::new().set("label", format!("b{i:02}")).set("n", i),
        )
        .await
        .unwrap();
    }
    for order in [Order::Asc, Order::Desc] {
        let mut seen = Vec::new();
        let mut q = ListQuery::new().order_by("n", order).limit(4);
        for _ in 0..10 {
            let page = s.list(&sa, &t, &q).await.unwrap();
            seen.extend(page.rows.iter().map(|r| {
                (
                    r.get::<Option<i64>>("n").unwrap(),
                    r.get::<String>("id").unwrap(),
                )
            }));
            match page.cursor {
                Some(c) => q = q.after(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 23, "{order:?}: every row once");
        let mut sorted = seen.clone();
        sorted.sort();
        if order == Order::Desc {
            sorted.reverse();
        }
        assert_eq!(
            seen, sorted,
            "{order:?}: NULLs first ascending, last descending, ties by id"
        );
    }
    let q = ListQuery::new()
        .filter("n", Op::Ge, 5_i64)
        .filter("label", Op::Like, "a%");
    let rows = s.list(&sa, &t, &q).await.unwrap().rows;
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.get::<i64>("n").unwrap() >= 5));
    let nulls = s
        .list(
            &sa,
            &t,
            &ListQuery::new().filter("n", Op::IsNull, Value::Null),
        )
        .await
        .unwrap()
        .rows;
    assert_eq!(nulls.len(), 5);
    // A value that looks like SQL is just a value.
    let q = ListQuery::new().filter("label", Op::Eq, "x' OR '1'='1");
    assert!(s.list(&sa, &t, &q).await.unwrap().rows.is_empty());
    let e = s
        .list(&sa, &t, &ListQuery::new().after("not-a-cursor"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    for limit in [0, MAX_PAGE + 1] {
        assert!(
            s.list(&sa, &t, &ListQuery::new().limit(limit))
                .await
                .is_err()
        );
    }
}

/// Sub-tenants' rows appear only with `including_subtenants`, and never a
/// sibling's or a parent's.
pub async fn subtenant_rows_are_included_only_when_asked(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let parent = tenant(&r, p).await;
    let child = r
        .create_tenant(p, NewTenant::new(unique("c-"), "Child").with_parent(parent))
        .await
        .unwrap()
        .id;
    let grandchild = r
        .create_tenant(
            p,
            NewTenant::new(unique("g-"), "Grandchild").with_parent(child),
        )
        .await
        .unwrap()
        .id;
    let sibling = tenant(&r, p).await;
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    for (tn, label) in [
        (parent, "parent"),
        (child, "child"),
        (grandchild, "grandchild"),
        (sibling, "sibling"),
    ] {
        s.insert(
            &scope(&r, p, tn).await,
            &t,
            Record::new().set("label", label),
        )
        .await
        .unwrap();
    }
    let labels = |rows: Vec<neutrino_core::sql::Row>| {
        let mut l: Vec<String> = rows.iter().map(|r| r.get("label").unwrap()).collect();
        l.sort();
        l
    };
    let sp = scope(&r, p, parent).await;
    assert_eq!(
        labels(s.list(&sp, &t, &ListQuery::new()).await.unwrap().rows),
        ["parent"]
    );
    assert_eq!(
        labels(
            s.list(&sp, &t, &ListQuery::new().including_subtenants())
                .await
                .unwrap()
                .rows
        ),
        ["child", "grandchild", "parent"]
    );
    let sc = scope(&r, p, child).await;
    assert_eq!(
        labels(
            s.list(&sc, &t, &ListQuery::new().including_subtenants())
                .await
                .unwrap()
                .rows
        ),
        ["child", "grandchild"]
    );
}

/// Only declared tables and columns can be named; identifiers cannot inject SQL.
pub async fn undeclared_tables_and_columns_are_refused(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    let (t, undeclared) = (items(), items());
    let s = store(&r, stores, &[&t]).await;
    let sa = scope(&r, p, a).await;
    let e = s
        .insert(&sa, &undeclared, Record::new().set("label", "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let e = s
        .insert(&sa, &t, Record::new().set(r#"label" = 1; --"#, "x"))
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
    let q = ListQuery::new().order_by(r#"n"; DROP TABLE "x"#, Order::Asc);
    assert!(matches!(
        s.list(&sa, &t, &q).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    let q = ListQuery::new().filter("tenant_id", Op::Ne, "x");
    assert!(matches!(
        s.list(&sa, &t, &q).await.unwrap_err(),
        Error::InvalidInput { .. }
    ));
    assert!(TenantTable::new(r#"x"; DROP TABLE y; --"#, &[]).is_err());
    assert!(TenantTable::new("neutrino_tenant", &[]).is_err());
    assert!(TenantTable::new("ok", &[("bad col", ColumnType::Text)]).is_err());
}

/// An existing table without the scope columns gets them; its old rows belong to
/// no tenant.
pub async fn existing_tables_get_the_scope_columns(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let p = platform(&r).await;
    let a = tenant(&r, p).await;
    let name = unique("legacy_");
    stores
        .db
        .execute(&Statement::new(format!(
            r#"CREATE TABLE "{name}" ("label" TEXT)"#
        )))
        .await
        .unwrap();
    stores
        .db
        .execute(&Statement::new(format!(
            r#"INSERT INTO "{name}" VALUES ('old')"#
        )))
        .await
        .unwrap();
    let t = TenantTable::new(
        &name,
        &[("label", ColumnType::Text), ("extra", ColumnType::Integer)],
    )
    .unwrap();
    let s = store(&r, stores, &[&t]).await;
    let sa = scope(&r, p, a).await;
    assert!(
        s.list(&sa, &t, &ListQuery::new())
            .await
            .unwrap()
            .rows
            .is_empty(),
        "old rows belong to no tenant"
    );
    let id = s
        .insert(
            &sa,
            &t,
            Record::new().set("label", "new").set("extra", 1_i64),
        )
        .await
        .unwrap();
    assert_eq!(
        s.get(&sa, &t, &id)
            .await
            .unwrap()
            .get::<i64>("extra")
            .unwrap(),
        1
    );
    // Opening again changes nothing.
    store(&r, stores, &[&t]).await;
}

/// A store restricted to one platform serves that platform's scopes as before
/// and refuses every other platform's scope (`PermissionDenied`) without
/// reading or writing; narrowing cannot be undone or pointed elsewhere.
pub async fn a_restricted_store_serves_only_its_platform(stores: &Stores) {
    let clock = ManualClock::new();
    let r = registry(stores, &clock).await;
    let (p, q) = (platform(&r).await, platform(&r).await);
    let (a, b) = (tenant(&r, p).await, tenant(&r, q).await);
    let (sa, sb) = (scope(&r, p, a).await, scope(&r, q, b).await);
    let t = items();
    let all = store(&r, stores, &[&t]).await;
    assert_eq!(all.platform(), None);
    let only_p = all.restricted_to(p).unwrap();
    assert_eq!(only_p.platform(), Some(p));
    let mine = only_p
        .insert(&sa, &t, Record::new().set("label", "mine").set("n", 1))
        .await
        .unwrap();
    let theirs = all
        .insert(&sb, &t, Record::new().set("label", "theirs").set("n", 2))
        .await
        .unwrap();
    assert!(only_p.get(&sa, &t, &mine).await.is_ok());
    let denied = |e: Error| assert!(e.is_permission_denied(), "{e:?}");
    denied(
        only_p
            .insert(&sb, &t, Record::new().set("label", "x"))
            .await
            .unwrap_err(),
    );
    denied(only_p.get(&sb, &t, &theirs).await.unwrap_err());
    denied(
        only_p
            .update(&sb, &t, &theirs, Record::new().set("label", "pwned"))
            .await
            .unwrap_err(),
    );
    denied(only_p.delete(&sb, &t, &theirs).await.unwrap_err());
    denied(only_p.list(&sb, &t, &ListQuery::new()).await.unwrap_err());
    denied(
        only_p
            .list(&sb, &t, &ListQuery::new().including_subtenants())
            .await
            .unwrap_err(),
    );
    // The other platform's tenant has exactly its one row, unchanged.
    let page = all.list(&sb, &t, &ListQuery::new()).await.unwrap();
    assert_eq!(page.rows.len(), 1);
    assert_eq!(page.rows[0].get::<String>("label").unwrap(), "theirs");
    // Narrowing only.
    denied(only_p.restricted_to(q).unwrap_err());
    assert_eq!(only_p.restricted_to(p).unwrap().platform(), Some(p));
    assert!(all.restricted_to(q).is_ok());
}

/// A platform with two tenants and a store of one table.
struct TwoTenants {
    r: Registry,
    p: PlatformId,
    a: TenantId,
    b: TenantId,
    t: TenantTable,
    s: TenantStore,
}

async fn two_tenants(stores: &Stores, clock: &ManualClock) -> TwoTenants {
    let r = registry(stores, clock).await;
    let p = platform(&r).await;
    let (a, b) = (tenant(&r, p).await, tenant(&r, p).await);
    let t = items();
    let s = store(&r, stores, &[&t]).await;
    TwoTenants { r, p, a, b, t, s }
}
