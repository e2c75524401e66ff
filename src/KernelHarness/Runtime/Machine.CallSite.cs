using System.Collections.Generic;
using System.IO;
using System.Runtime.CompilerServices;

namespace KernelHarness.Runtime;

// The caller's FILE:LINE of the kernel call in progress, given by the facade for calls that take a
// lock or enter an atomic context ([CallerFilePath]/[CallerLineNumber]: free, no stack walk).
public sealed partial class Machine
{
    // Caller file paths are string literals the compiler interns, so a site is keyed by the string's
    // identity: no hashing of the path on the hot path. Only the baton holder touches it.
    private readonly Dictionary<(string File, int Line), string> siteNames = new(SiteComparer.Instance);
    private string? callSiteFile;
    private int callSiteLine;
    private long callSiteCall = -1; // the call (Calls) the site belongs to: a later kernel call makes it stale

    /// <summary>Records where the current kernel call was made (called by the generated facade).</summary>
    public void SetCallSite(string file, int line)
    {
        callSiteFile = file;
        callSiteLine = line;
        callSiteCall = calls;
    }

    /// <summary>The FILE:LINE recorded for the current call, once; null when none was recorded (or another kernel call came since).</summary>
    internal string? TakeCallSite()
    {
        var file = callSiteFile;
        if (file is null || file.Length == 0 || callSiteCall != calls)
            return null;
        callSiteFile = null;
        var key = (file, callSiteLine);
        if (!siteNames.TryGetValue(key, out var name))
        {
            name = $"{Path.GetFileName(file)}:{callSiteLine}";
            siteNames[key] = name;
        }
        return name;
    }

    private sealed class SiteComparer : IEqualityComparer<(string File, int Line)>
    {
        public static readonly SiteComparer Instance = new();

        public bool Equals((string File, int Line) x, (string File, int Line) y) =>
            x.Line == y.Line && ReferenceEquals(x.File, y.File);

        public int GetHashCode((string File, int Line) obj) => RuntimeHelpers.GetHashCode(obj.File) * 31 + obj.Line;
    }
}
