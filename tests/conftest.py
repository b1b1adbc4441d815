from aligncheck.harness.profiles import register

register()
