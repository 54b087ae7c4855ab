namespace Executor.Sandbox;

/// <summary>
/// How many sandboxes this machine holds at once: two per core (a sandbox's CPU quota is half a core) and, with
/// their memory limit each, within half of the memory. Runs in flight and warm containers are both held to it.
/// </summary>
public static class HostCapacity
{
    public static int Sandboxes(int memoryMbEach) =>
        Sandboxes(Environment.ProcessorCount, GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, memoryMbEach);

    /// <summary>
    /// How many stateful sandboxes this machine holds: an idle one takes no CPU, so only memory bounds them (each at
    /// its memory limit, within half of the memory).
    /// </summary>
    public static int IdleSandboxes(int memoryMbEach) => IdleSandboxes(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes, memoryMbEach);

    public static int IdleSandboxes(long memoryBytes, int memoryMbEach) =>
        (int)Math.Clamp(memoryBytes / 2 / (Math.Max(1, memoryMbEach) * 1024L * 1024), 1, 4096);

    public static int Sandboxes(int cores, long memoryBytes, int memoryMbEach)
    {
        var byCpu = cores * 2;
        var byMemory = memoryBytes / 2 / (Math.Max(1, memoryMbEach) * 1024L * 1024);
        return (int)Math.Clamp(Math.Min(byCpu, byMemory), 1, 1024);
    }
}
