using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;

namespace KernelHarness.Runtime;

/// <summary>Turns .NET stacks into call traces of student code: harness frames are dropped.</summary>
internal static class StackCapture
{
    private static bool IsHarnessFrame(StackFrame frame)
    {
        var method = frame.GetMethod();
        var type = method?.DeclaringType;
        if (type is null)
            return true;
        var ns = type.Namespace ?? "";
        if (type.Assembly == typeof(StackCapture).Assembly)
            return true;
        return ns.StartsWith("System", StringComparison.Ordinal) || ns.StartsWith("Xunit", StringComparison.Ordinal)
            || ns.StartsWith("Microsoft", StringComparison.Ordinal) || ns.StartsWith("KernelHarness.Conformance", StringComparison.Ordinal);
    }

    /// <summary>
    /// The call trace of the caller (KASAN's allocation and free stacks, on every allocator call in the
    /// debug configuration). Reading source lines from the symbols is what makes a stack trace slow, so
    /// the stack is walked without them and the formatted trace is cached per stack (the methods and IL
    /// offsets of its frames): the symbols are read once per distinct stack.
    /// </summary>
    public static IReadOnlyList<string> Capture(int skip = 1)
    {
        var frames = new StackTrace(skip + 1, false).GetFrames();
        var key = new StackKey(frames);
        if (traceCache.TryGetValue(key, out var cached))
            return cached;
        var trace = Frames(new StackTrace(skip + 1, true));
        if (traceCache.Count >= TraceCacheLimit)
            traceCache.Clear();
        traceCache.TryAdd(key, trace);
        return trace;
    }

    private const int TraceCacheLimit = 20_000;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<StackKey, IReadOnlyList<string>> traceCache = new();

    /// <summary>A stack's identity: the method handle and IL offset of every frame.</summary>
    private readonly struct StackKey : IEquatable<StackKey>
    {
        private readonly (System.Reflection.MethodBase? Method, int Il)[] frames;
        private readonly int hash;

        public StackKey(StackFrame[] stack)
        {
            frames = new (System.Reflection.MethodBase?, int)[stack.Length];
            var h = new HashCode();
            for (int i = 0; i < stack.Length; i++)
            {
                frames[i] = (stack[i].GetMethod(), stack[i].GetILOffset());
                h.Add(frames[i]);
            }
            hash = h.ToHashCode();
        }

        public bool Equals(StackKey other) => hash == other.hash && frames.AsSpan().SequenceEqual(other.frames);

        public override bool Equals(object? obj) => obj is StackKey other && Equals(other);

        public override int GetHashCode() => hash;
    }

    public static IReadOnlyList<string> FromException(Exception ex) => Frames(new StackTrace(ex, true), keepHarness: true);

    public static IReadOnlyList<string> Frames(StackTrace? trace, bool keepHarness = false)
    {
        var frames = new List<string>();
        if (trace is null)
            return frames;
        foreach (var frame in trace.GetFrames())
        {
            if (!keepHarness && IsHarnessFrame(frame))
                continue;
            var method = frame.GetMethod();
            if (method is null)
                continue;
            var name = $"{method.DeclaringType?.Name}.{method.Name}";
            var file = frame.GetFileName();
            frames.Add(file is null
                ? name
                : string.Create(CultureInfo.InvariantCulture, $"{name} ({Path.GetFileName(file)}:{frame.GetFileLineNumber()})"));
            if (frames.Count >= 16)
                break;
        }
        return frames;
    }

    /// <summary>The first FILE:LINE outside the harness, or null.</summary>
    public static string? FirstUserLocation(int skip = 1)
    {
        foreach (var frame in new StackTrace(skip + 1, true).GetFrames())
        {
            if (IsHarnessFrame(frame))
                continue;
            var file = frame.GetFileName();
            if (file is not null)
                return string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(file)}:{frame.GetFileLineNumber()}");
        }
        return null;
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<(System.Reflection.MethodBase, int), string?> siteCache = new();

    /// <summary>
    /// <see cref="FirstUserLocation(int)"/> for hot paths (lockdep records the site of every acquisition):
    /// the stack is walked without source information, and FILE:LINE is resolved from the symbols once
    /// per call site (method and IL offset) and cached.
    /// </summary>
    public static string? FirstUserLocationCached(int skip = 1)
    {
        foreach (var frame in new StackTrace(skip + 1, false).GetFrames())
        {
            if (IsHarnessFrame(frame))
                continue;
            var method = frame.GetMethod();
            int il = frame.GetILOffset();
            if (method is null || il == StackFrame.OFFSET_UNKNOWN)
                break;
            return siteCache.GetOrAdd((method, il), static (_, s) => FirstUserLocation(s + 1), skip + 2);
        }
        return FirstUserLocation(skip + 1);
    }

    public static string? FirstUserLocation(IReadOnlyList<string> frames)
    {
        foreach (var f in frames)
        {
            int open = f.LastIndexOf('(');
            if (open >= 0 && f.EndsWith(')'))
                return f[(open + 1)..^1];
        }
        return null;
    }
}
