//! Public methods that hand their arguments, unchanged, to the method of the
//! same name on one of the owner's components.

/// `delegate! { path.to.component => { /// docs
/// pub async fn name(&self, arg: Type, …) -> Ret; … } }` writes each method
/// as `self.path.to.component.name(arg, …).await`.
///
/// `delegate! { writer path.to.component => { … } }` does the same for
/// methods whose first argument is a session token: it is resolved once, here,
/// into the caller allowed to write (`self.callers.writer(token)`), and the
/// component's method gets that `&Actor` in its place.
macro_rules! delegate {
    (writer $($field:ident).+ => { $($fns:tt)* }) => {
        $crate::delegate::delegate!(@writer ($($field).+) $($fns)*);
    };
    ($($field:ident).+ => { $($fns:tt)* }) => {
        $crate::delegate::delegate!(@fns ($($field).+) $($fns)*);
    };
    (@fns $path:tt
        $(
            $(#[$attr:meta])*
            pub async fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        )*
    ) => {
        $(
            $(#[$attr])*
            pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                $crate::delegate::delegate!(@call self $path $name ($($arg),*)).await
            }
        )*
    };
    (@writer $path:tt
        $(
            $(#[$attr:meta])*
            pub async fn $name:ident(&self, $token:ident: &str $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty;
        )*
    ) => {
        $(
            $(#[$attr])*
            pub async fn $name(&self, $token: &str $(, $arg: $ty)*) -> $ret {
                let actor = self.callers.writer($token).await?;
                $crate::delegate::delegate!(@call self $path $name (&actor $(, $arg)*)).await
            }
        )*
    };
    (@call $self:ident ($($field:ident).+) $name:ident ($($arg:expr),*)) => {
        $self.$($field).+.$name($($arg),*)
    };
}

pub(crate) use delegate;
