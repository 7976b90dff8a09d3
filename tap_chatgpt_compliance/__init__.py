"""Singer tap that archives a ChatGPT Enterprise/Edu workspace through the Compliance API."""
