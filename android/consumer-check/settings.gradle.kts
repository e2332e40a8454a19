// An app-like build that includes the Ferrotun module the way an app does,
// with plugin versions of its own (-Pagp=..., -Pkotlin=...), to prove the
// module pins none. CI (.github/workflows/mobile.yml) runs
//   gradle -p android/consumer-check -Pagp=<version> -Pkotlin=<version> :ferrotun:assembleRelease
// Nothing here reads android/settings.gradle.kts (the module's standalone versions).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
    val agp = providers.gradleProperty("agp").orElse("8.6.1").get()
    val kotlin = providers.gradleProperty("kotlin").orElse("2.1.20").get()
    plugins {
        id("com.android.library") version agp
        id("org.jetbrains.kotlin.android") version kotlin
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "ferrotun-consumer-check"
include(":ferrotun")
project(":ferrotun").projectDir = file("..")
