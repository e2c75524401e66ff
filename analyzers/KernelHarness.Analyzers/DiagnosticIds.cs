namespace KernelHarness.Analyzers;

/// <summary>Every diagnostic ID and category of the KH analyzers: the one table (rules.md).</summary>
public static class DiagnosticIds
{
    public const string SleepInAtomicContext = "KH1001";
    public const string BlockingGfpInAtomicContext = "KH1002";
    public const string AtomicGfpWhereSleepingAllowed = "KH1003";
    public const string InvalidGfpCombination = "KH1004";
    public const string PreemptionNotBalanced = "KH2001";
    public const string IrqSaveNotBalanced = "KH2002";
    public const string LockNotReleased = "KH2003";
    public const string MismatchedLockVariant = "KH2004";
}

/// <summary>Diagnostic categories.</summary>
public static class DiagnosticCategories
{
    public const string Context = "KernelContext";
    public const string Memory = "KernelMemory";
    public const string Locking = "KernelLocking";
}
