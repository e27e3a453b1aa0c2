"""The console: kefu's web app for knowledge admins and human agents, served at /console."""
