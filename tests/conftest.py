"""Suite-wide pytest configuration.

Real peers (nginx, dnsmasq, openssl, curl, Xvfb ...) are located through
:func:`tests.peers.require_binary`.  Locally a missing binary skips the test
with a clear reason; under CI (``CI`` set in the environment) the same call
fails the test, because CI installs every peer and must not pass by skipping.
"""
