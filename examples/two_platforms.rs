//! Two platforms served from one process, as a gateway serves many: one
//! folder (one registry), one `Platform` runtime per platform. Runs offline.
//!
//! Run with `cargo run --example two_platforms`. Each platform has its own
//! users, sessions, tenants and rows: Ada signs up on both with the same email
//! and gets two unrelated accounts; a session cookie of one platform is refused
//! by the other, and a tenant scope of one is refused by the other's store.

use std::io::Write;
use std::path::Path;

use neutrino::auth::org::NewOrganization;
use neutrino::auth::{AuthError, RequestMeta, SignUpEmail};
use neutrino::tenancy::{ColumnType, ListQuery, Record, TenantTable};
use neutrino::{Error, LocalPlatforms, Platform, Result};

/// What the example saw, for its test.
#[derive(Debug)]
pub(crate) struct Summary {
    /// Whether the two platforms are different platforms.
    pub(crate) distinct: bool,
    /// The error each platform gave the other's session cookie.
    pub(crate) foreign_cookie: Vec<Error>,
    /// The error the blog's store gave the shop's tenant scope.
    pub(crate) foreign_scope: Error,
    /// The rows each platform's `acme` lists.
    pub(crate) rows: (usize, usize),
}

/// Ada signs up on `app`, creates `acme` there, and sends her cookie header.
async fn ada_on(app: &Platform) -> Result<String> {
    let meta = RequestMeta::new("127.0.0.1", "two-platforms");
    let new = SignUpEmail::new("Ada", "ada@example.com", "correct horse battery");
    let ada = app.auth().sign_up_email(new, &meta).await?;
    let ada = ada.signed_in().ok_or(AuthError::EmailNotVerified)?;
    let acme = NewOrganization::new("Acme", "acme");
    let token = &ada.session.token;
    app.orgs().create_organization(token, acme, &meta).await?;
    let cookie = app.auth().cookies().session_cookie(token, true);
    Ok(format!("{}={}", cookie.name(), cookie.value()))
}

/// Serves two platforms from `root`, reporting to `out`.
pub(crate) async fn run(root: &Path, out: &mut impl Write) -> Result<Summary> {
    let mut say =
        |line: String| writeln!(out, "{line}").map_err(|e| Error::backend("stdout", false, e));
    let notes = TenantTable::new("note", &[("body", ColumnType::Text)])?;
    // Start-up: the folder once, then one runtime per platform, each with the
    // secret of its own (from the environment in a real deployment).
    let folder = LocalPlatforms::open(root).await?;
    let shop = folder
        .platform("Shop", "the shop's secret, 32 bytes or more")
        .tables(vec![notes.clone()])
        .build()
        .await?;
    let blog = folder
        .platform("Blog", "the blog's secret, 32 bytes or more")
        .tables(vec![notes.clone()])
        .build()
        .await?;
    say(format!(
        "platforms       shop {}, blog {}",
        shop.id(),
        blog.id()
    ))?;

    // Ada has an account on each, with an `acme` organization on each.
    let shop_cookie = ada_on(&shop).await?;
    let blog_cookie = ada_on(&blog).await?;
    let in_shop = shop.scope_from_cookie_header(&shop_cookie).await?;
    let in_blog = blog.scope_from_cookie_header(&blog_cookie).await?;
    say(format!("shop's acme     {}", in_shop.tenant()))?;
    say(format!("blog's acme     {}", in_blog.tenant()))?;
    let row = Record::new().set("body", "a shop order");
    let order = shop
        .store()
        .insert(in_shop.tenant_scope(), &notes, row)
        .await?;

    // Each platform refuses the other's session cookie...
    let mut foreign_cookie = Vec::new();
    for (app, cookie, what) in [(&blog, &shop_cookie, "blog"), (&shop, &blog_cookie, "shop")] {
        match app.scope_from_cookie_header(cookie).await {
            Ok(_) => {
                return Err(Error::PermissionDenied {
                    reason: format!("{what} took a foreign session"),
                });
            }
            Err(e) => {
                say(format!(
                    "{:<16}the other's cookie: {e}",
                    format!("{what} refuses")
                ))?;
                foreign_cookie.push(e);
            }
        }
    }
    // ...and the other's tenant scope, though both keep rows in one table name.
    let foreign_scope = match blog
        .store()
        .get(in_shop.tenant_scope(), &notes, &order)
        .await
    {
        Ok(_) => {
            return Err(Error::PermissionDenied {
                reason: "blog read a shop row".into(),
            });
        }
        Err(e) => e,
    };
    say(format!("blog refuses    the shop's scope: {foreign_scope}"))?;
    let shop_rows = shop
        .store()
        .list(in_shop.tenant_scope(), &notes, &ListQuery::new())
        .await?;
    let blog_rows = blog
        .store()
        .list(in_blog.tenant_scope(), &notes, &ListQuery::new())
        .await?;
    let rows = (shop_rows.rows.len(), blog_rows.rows.len());
    say(format!(
        "rows            shop's acme {}, blog's acme {}",
        rows.0, rows.1
    ))?;
    Ok(Summary {
        distinct: shop.id() != blog.id() && in_shop.tenant() != in_blog.tenant(),
        foreign_cookie,
        foreign_scope,
        rows,
    })
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let temp = tempfile::tempdir()?;
    let s = run(temp.path(), &mut std::io::stdout()).await?;
    println!(
        "two platforms, one process ({}): {} foreign cookies refused, a foreign scope refused ({}); {} rows in the shop, {} in the blog",
        if s.distinct { "distinct" } else { "MIXED" },
        s.foreign_cookie.len(),
        s.foreign_scope,
        s.rows.0,
        s.rows.1
    );
    Ok(())
}
