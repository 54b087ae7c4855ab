using Docker.DotNet;

namespace Executor.Sandbox;

/// <summary>
/// Waits for the launcher's "ready" frame (kind 'r', empty): the interpreter has booted and the script's process
/// is forked and waiting, so a job sent now runs at once. A container counts as warm only from then on.
/// </summary>
public static class LauncherReadiness
{
    private static readonly byte[] ReadyFrame = [(byte)'r', 0, 0, 0, 0];

    /// <summary>True once the frame arrives; false if the container's output ends first.</summary>
    public static async Task<bool> WaitAsync(MultiplexedStream output, CancellationToken cancellationToken)
    {
        var seen = 0;
        var buffer = new byte[64];
        while (true)
        {
            var read = await output.ReadOutputAsync(buffer, 0, buffer.Length, cancellationToken);
            if (read.EOF)
            {
                return false;
            }
            if (read.Target != MultiplexedStream.TargetStream.StandardOut)
            {
                continue;
            }
            // Nothing precedes the ready frame on stdout; match it byte by byte, however the engine splits it.
            for (var i = 0; i < read.Count; i++)
            {
                if (buffer[i] != ReadyFrame[seen])
                {
                    return false;
                }
                if (++seen == ReadyFrame.Length)
                {
                    return true;
                }
            }
        }
    }
}
