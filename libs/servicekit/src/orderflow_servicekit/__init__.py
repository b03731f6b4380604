"""What both orderflow services share: settings, engines, migrations, problems, health, logs."""
