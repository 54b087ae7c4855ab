using Executor.SessionCore.Storage;

namespace Executor.SessionCore.Callbacks;

/// <summary>
/// A surface's own callback: how the sessions it submitted (<see cref="Sessions.RunOptions.Surface"/>) are sent to
/// their callback_url. A surface that has none gets the native one: a POST of the session's result.
/// </summary>
public interface ICallbackFormat
{
    /// <summary>The surface whose sessions it formats, as <see cref="Sessions.RunOptions.Surface"/> names it.</summary>
    string Surface { get; }

    HttpMethod Method { get; }

    /// <summary>The JSON body for an ended session.</summary>
    byte[] Body(SessionRecord session);
}
