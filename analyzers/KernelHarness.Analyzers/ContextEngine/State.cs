using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;

namespace KernelHarness.Analyzers.ContextEngine;

/// <summary>One thing held at a program point: a lock, or a lock-less atomic context (preemption, irqs, RCU, BH, kmap_atomic).</summary>
internal sealed record Held(
    string Key,
    string Display,
    LockKind Kind,
    Location Site,
    string Api,
    string? FlagsKey,
    string? FlagsText,
    IMethodSymbol? Acquirer,
    bool FromEntry)
{
    public bool IsAtomic => Kinds.IsAtomic(Kind);
}

/// <summary>A conditional acquisition waiting on the local that holds its result (<c>ok = spin_trylock(l)</c>).</summary>
internal sealed record Pending(Held Lock, When When);

/// <summary>
/// The abstract state at a point of one path: what is held (in acquisition order), the values known
/// for branch conditions (so branches on the same condition stay correlated) and pending trylocks.
/// Immutable; compared by <see cref="SameAs"/>.
/// </summary>
internal sealed class State
{
    public static readonly State Empty = new(ImmutableList<Held>.Empty, ImmutableDictionary<string, bool>.Empty, ImmutableDictionary<string, Pending>.Empty);

    public State(ImmutableList<Held> held, ImmutableDictionary<string, bool> facts, ImmutableDictionary<string, Pending> pending)
    {
        Held = held;
        Facts = facts;
        PendingByKey = pending;
    }

    public ImmutableList<Held> Held { get; }
    public ImmutableDictionary<string, bool> Facts { get; }
    public ImmutableDictionary<string, Pending> PendingByKey { get; }

    private Held? firstAtomic;
    private bool firstAtomicKnown;

    /// <summary>The first atomic thing held (asked at every call: cached, the state is immutable).</summary>
    public Held? FirstAtomic
    {
        get
        {
            if (!firstAtomicKnown)
            {
                foreach (var h in Held)
                {
                    if (h.IsAtomic)
                    {
                        firstAtomic = h;
                        break;
                    }
                }
                firstAtomicKnown = true;
            }
            return firstAtomic;
        }
    }

    public State WithHeld(ImmutableList<Held> held) => new(held, Facts, PendingByKey);
    public State Push(Held h) => new(Held.Add(h), Facts, PendingByKey);
    public State WithFact(string key, bool value) => new(Held, Facts.SetItem(key, value), PendingByKey);
    public State WithoutFact(string key) => Facts.ContainsKey(key) ? new(Held, Facts.Remove(key), PendingByKey) : this;
    public State WithPending(string key, Pending p) => new(Held, Facts, PendingByKey.SetItem(key, p));

    /// <summary>Does this state know a fact or wait on a trylock (else an assignment has nothing to forget)?</summary>
    public bool KnowsAnything => !Facts.IsEmpty || !PendingByKey.IsEmpty;

    /// <summary>This state without what it knew of <paramref name="key"/> and of the paths under it (<c>key.field</c>).</summary>
    public State Forget(string key)
    {
        // Asked at every assignment: most states know no facts and wait on no trylock.
        if (!KnowsAnything)
            return this;
        var facts = Facts;
        foreach (var k in Facts.Keys)
            if (LockRef.IsSameOrUnder(k, key))
                facts = facts.Remove(k);
        var pending = PendingByKey.Remove(key);
        return ReferenceEquals(facts, Facts) && ReferenceEquals(pending, PendingByKey) ? this : new State(Held, facts, pending);
    }

    /// <summary>
    /// Are the two states the same for every question the walk asks: the same things held in the same order (each
    /// by key, kind, place of acquisition and saved flags), the same facts, the same pending trylocks?
    /// </summary>
    public bool SameAs(State other)
    {
        if (ReferenceEquals(this, other))
            return true;
        if (Held.Count != other.Held.Count || Facts.Count != other.Facts.Count || PendingByKey.Count != other.PendingByKey.Count)
            return false;
        for (int i = 0; i < Held.Count; i++)
        {
            Held a = Held[i], b = other.Held[i];
            if (!ReferenceEquals(a, b) && (a.Key != b.Key || a.Kind != b.Kind || a.Site.SourceSpan.Start != b.Site.SourceSpan.Start || a.FlagsKey != b.FlagsKey))
                return false;
        }
        foreach (var kv in Facts)
            if (!other.Facts.TryGetValue(kv.Key, out var v) || v != kv.Value)
                return false;
        foreach (var kv in PendingByKey)
            if (!other.PendingByKey.TryGetValue(kv.Key, out var p) || p.Lock.Key != kv.Value.Lock.Key)
                return false;
        return true;
    }
}

/// <summary>Lock kinds, grouped the way the rules need them.</summary>
internal static class Kinds
{
    public static bool IsAtomic(LockKind k) => k switch
    {
        LockKind.Mutex or LockKind.Semaphore or LockKind.MmapRead or LockKind.MmapWrite or LockKind.RwSemRead or LockKind.RwSemWrite or LockKind.Unknown => false,
        _ => true,
    };

    public static bool IsContext(LockKind k) => k is LockKind.Preempt or LockKind.IrqSave or LockKind.IrqDisable or LockKind.Rcu or LockKind.BottomHalf or LockKind.KmapAtomic;

    /// <summary>
    /// A read hold another read hold of the same lock may nest in: an rwlock_t's readers (lockdep's recursive
    /// read). An rw_semaphore's (and so mmap_lock's) do not: a writer queued between the two waits for the first,
    /// and the second for the writer.
    /// </summary>
    public static bool NestsAsReader(LockKind k) => k is LockKind.ReadLock or LockKind.ReadLockBh or LockKind.ReadLockIrq or LockKind.ReadLockIrqSave;

    public static bool IsRwSemRead(LockKind k) => k is LockKind.MmapRead or LockKind.RwSemRead;

    /// <summary>The rule that owns the balance of this kind.</summary>
    public static string BalanceRule(LockKind k) => k switch
    {
        LockKind.Preempt => DiagnosticIds.PreemptionNotBalanced,
        LockKind.IrqSave or LockKind.IrqDisable => DiagnosticIds.IrqSaveNotBalanced,
        _ => DiagnosticIds.LockNotReleased,
    };

    /// <summary>The key a lock-less context lives under.</summary>
    public static string ContextKey(LockKind k, string? flagsKey) => k switch
    {
        LockKind.IrqSave => "<irqsave:" + flagsKey + ">",
        LockKind.IrqDisable => "<irqdisable>",
        LockKind.Preempt => "<preempt>",
        LockKind.Rcu => "<rcu>",
        LockKind.BottomHalf => "<bh>",
        LockKind.KmapAtomic => "<kmap_atomic>",
        _ => "<" + k + ">",
    };

    public static string Noun(LockKind k) => k switch
    {
        LockKind.Spin or LockKind.SpinIrq or LockKind.SpinIrqSave or LockKind.SpinBh => "spinlock",
        LockKind.ReadLock or LockKind.ReadLockIrq or LockKind.ReadLockIrqSave or LockKind.ReadLockBh => "rwlock (read)",
        LockKind.WriteLock or LockKind.WriteLockIrq or LockKind.WriteLockIrqSave or LockKind.WriteLockBh => "rwlock (write)",
        LockKind.Mutex => "mutex",
        LockKind.Semaphore => "semaphore",
        LockKind.MmapRead or LockKind.MmapWrite => "mmap_lock",
        LockKind.RwSemRead or LockKind.RwSemWrite => "rw_semaphore",
        _ => "lock",
    };

    /// <summary>Words for "the context began here": <c>spinlock 'dev.lock' is held (taken at F:L)</c>.</summary>
    public static string Describe(Held h)
    {
        var at = Where(h.Site);
        return h.Kind switch
        {
            LockKind.Preempt => $"preemption is disabled ({h.Api}() at {at})",
            LockKind.IrqSave or LockKind.IrqDisable => $"interrupts are disabled ({h.Api}() at {at})",
            LockKind.Rcu => $"an RCU read-side section is open ({h.Api}() at {at})",
            LockKind.BottomHalf => $"bottom halves are disabled ({h.Api}() at {at})",
            LockKind.KmapAtomic => $"preemption is disabled by {h.Api}() (at {at})",
            _ => $"{Noun(h.Kind)} '{h.Display}' is held (taken at {at})",
        };
    }

    public static string Where(Location loc)
    {
        var span = loc.GetLineSpan();
        var file = span.Path;
        if (string.IsNullOrEmpty(file))
            file = "<source>";
        else
            file = System.IO.Path.GetFileName(file);
        return file + ":" + (span.StartLinePosition.Line + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    public static int Line(Location loc) => loc.GetLineSpan().StartLinePosition.Line + 1;
}
