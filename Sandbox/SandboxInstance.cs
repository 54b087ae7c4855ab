using System.Security.Cryptography;

namespace Executor.Sandbox;

/// <summary>Identifies this process among the owners of containers: labels carry it.</summary>
public sealed class SandboxInstance(string service)
{
    public string Service { get; } = service;

    public string Id { get; } = $"{service}-{Environment.ProcessId}-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
}
