// Only for building this module on its own (`gradle assembleRelease` in android/).
// An app that includes the module does not read this file: its own settings
// and root build script choose the Android Gradle plugin and Kotlin versions:
//   include(":ferrotun"); project(":ferrotun").projectDir = file("path/to/ferrotun/android")
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
    // The versions a standalone build uses; build.gradle.kts names none.
    plugins {
        id("com.android.library") version "8.7.3"
        id("org.jetbrains.kotlin.android") version "2.1.0"
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "ferrotun"
