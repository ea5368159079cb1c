"""The channels users reach the bot through: Rasa's REST and socket.io inputs, the web page, Telegram."""
