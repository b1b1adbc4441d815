from core.profiles import register

register()
