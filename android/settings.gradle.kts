// Lets the module build on its own (`gradle :assembleRelease` from android/).
// Inside an app's build, include it instead:
//   include(":ferrotun"); project(":ferrotun").projectDir = file("path/to/ferrotun/android")
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "ferrotun"
