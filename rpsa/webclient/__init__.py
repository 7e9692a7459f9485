"""The browser client, shipped inside the package: the game page, the operator console, their library.

``static/`` holds the files, served as they are (plain ES modules, no build
step, nothing fetched from elsewhere): ``index.html`` and ``app.js`` (the lobby
and a match, for players and spectators), ``console.html`` and ``console.js``
(the operator console), ``rpsa-client.js`` (the client library both are built
on, usable alone: see ``docs/webclient.md``), ``ui.js`` (DOM helpers the two
pages share), ``style.css`` and the icons.
:mod:`~rpsa.webclient.pages` is the Klein app serving them.
"""
