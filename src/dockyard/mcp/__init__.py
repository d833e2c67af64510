"""dockyard for agents over the Model Context Protocol: ``tools`` (what an agent may do,
on the service facade) and ``server`` (those as MCP tools, on the official SDK).
``dockyard mcp`` serves them on stdio."""
