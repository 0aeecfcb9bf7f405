"""Tests of the web application: pages, REST API, security, and the browser."""
