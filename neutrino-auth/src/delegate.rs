//! Public methods that hand their arguments, unchanged, to the method of the
//! same name on one of the owner's components.

/// `delegate! { path.to.component => { /// docs
/// pub async fn name(&self, arg: Type, …) -> Ret; … } }` writes each method
/// as `self.path.to.component.name(arg, …).await`.
macro_rules! delegate {
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
    (@call $self:ident ($($field:ident).+) $name:ident ($($arg:ident),*)) => {
        $self.$($field).+.$name($($arg),*)
    };
}

pub(crate) use delegate;
