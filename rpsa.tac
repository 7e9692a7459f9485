"""``twistd -ny rpsa.tac``: the ``twistd rpsa`` service, configured from RPSA_* variables (see rpsa.daemon.envconfig)."""

import os
import sys

from twisted.application import service
from twisted.python import usage

from rpsa.daemon.envconfig import explain, options_from_env
from rpsa.daemon.tap import makeService

try:
    options = options_from_env(os.environ)
except usage.UsageError as e:
    sys.exit(f"rpsa.tac: {explain(e, os.environ)}")  # on stderr; exit status 1

application = service.Application("rpsa")
makeService(options).setServiceParent(application)
