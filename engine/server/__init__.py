"""The control API: FastAPI over REST and WebSocket under ``/api/v1``, served by uvicorn
(``raytrader serve``). ``create_app(settings)`` builds it; ``app`` is the routes,
``backtests`` the backtest jobs, ``agent`` the paper-trading agent, ``hub`` the websocket
channels, ``security`` the token and the rate limit."""
