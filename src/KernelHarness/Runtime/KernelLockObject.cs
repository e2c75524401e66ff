using System.Collections.Generic;
using System.Diagnostics;
using System.IO;

namespace KernelHarness.Runtime;

/// <summary>
/// What every kernel lock object carries: its state for the locking code and its lockdep class.
/// As in Linux, the class is the place the lock was initialised (a static key per init site), so
/// every <c>spinlock_t</c> declared on one line of a driver is one class.
/// </summary>
public abstract class KernelLockObject
{
    private protected KernelLockObject(string kind, string member = "", string file = "", int line = 0)
    {
        Kind = kind;
        ClassKey = $"{kind}:{file}:{line}";
        Name = member.Length > 0 && member != ".ctor" && member != ".cctor" && CreatedByFieldInitializer()
            ? member
            : $"{kind}@{Path.GetFileName(file)}:{line}";
    }

    // [CallerMemberName] names the field a field (or property) initializer initialises, but for a local
    // variable it names the enclosing method: a field initializer runs inside a constructor, so the
    // first frame outside the lock types tells them apart.
    private static bool CreatedByFieldInitializer()
    {
        foreach (var frame in new StackTrace(1, false).GetFrames())
        {
            var method = frame.GetMethod();
            if (method is null)
                return false;
            if (method.IsConstructor && method.DeclaringType is { } t && typeof(KernelLockObject).IsAssignableFrom(t))
                continue;
            return method.IsConstructor;
        }
        return false;
    }

    /// <summary>The lock type (<c>spinlock_t</c>, <c>mutex</c>, …).</summary>
    public string Kind { get; }

    /// <summary>A name for reports: the field it initialises, or its init site.</summary>
    public string Name { get; set; }

    /// <summary>The lockdep class key: the init site.</summary>
    internal string ClassKey { get; }

    /// <summary>Spinlock/mutex: 1 when held. rwlock: readers (or -1 for a writer). Semaphore: free units.</summary>
    internal int count;

    /// <summary>The task holding it (exclusive holders only).</summary>
    internal SimTask? owner;

    /// <summary>The CPU the holder was on when it took a spinning lock.</summary>
    internal int owner_cpu = -1;

    /// <summary>Tasks sleeping on a sleeping lock, in arrival order.</summary>
    internal readonly List<SimTask> waiters = new();

    /// <summary>Semaphore waiters a unit was handed to by <c>up</c>.</summary>
    internal readonly List<SimTask> handoff = new();

    /// <summary>Readers holding an rwlock/rw_semaphore.</summary>
    internal readonly List<SimTask> readers = new();

    /// <summary>True while the lock is held by anyone.</summary>
    public bool IsHeld => Kind == "semaphore" ? waiters.Count > 0 || count <= 0 : count != 0;

    public override string ToString() => Name;
}
