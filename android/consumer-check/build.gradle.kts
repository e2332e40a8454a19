// The app's root build script declares the plugin versions, as Android Studio's
// templates do; the included :ferrotun module only names the plugin ids.
plugins {
    id("com.android.library") apply false
    id("org.jetbrains.kotlin.android") apply false
}
