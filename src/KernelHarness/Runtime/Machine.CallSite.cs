using System.Collections.Concurrent;
using System.IO;

namespace KernelHarness.Runtime;

// The caller's FILE:LINE of the kernel call in progress, given by the facade for calls that take a
// lock or enter an atomic context ([CallerFilePath]/[CallerLineNumber]: free, no stack walk).
public sealed partial class Machine
{
    private static readonly ConcurrentDictionary<(string File, int Line), string> SiteNames = new();
    private string? callSiteFile;
    private int callSiteLine;

    /// <summary>Records where the current kernel call was made (called by the generated facade).</summary>
    public void SetCallSite(string file, int line)
    {
        callSiteFile = file;
        callSiteLine = line;
    }

    /// <summary>The FILE:LINE recorded for the current call, once; null when none was recorded.</summary>
    internal string? TakeCallSite()
    {
        var file = callSiteFile;
        if (file is null || file.Length == 0)
            return null;
        callSiteFile = null;
        return SiteNames.GetOrAdd((file, callSiteLine), static k => $"{Path.GetFileName(k.File)}:{k.Line}");
    }
}
