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
    public const string MismatchedFree = "KH3001";
    public const string UseBeforeNullCheck = "KH3002";
    public const string DoubleFree = "KH3003";
    public const string LeakOnErrorPath = "KH3004";
    public const string SharedIrqNullDevId = "KH4001";
    public const string FreeIrqDevIdMismatch = "KH4002";
    public const string CurrentInInterrupt = "KH4003";
    public const string SharedHandlerClaimsEverything = "KH4004";
    public const string RawJiffiesComparison = "KH5001";
    public const string WaitWithoutRecheck = "KH5002";
    public const string InitMmUserContextTest = "KH6001";
    public const string KernelThreadMmDereference = "KH6002";
    public const string ApiNotAllowed = "KH9001";
}

/// <summary>Diagnostic categories.</summary>
public static class DiagnosticCategories
{
    public const string Context = "KernelContext";
    public const string Memory = "KernelMemory";
    public const string Locking = "KernelLocking";
    public const string Irq = "KernelIrq";
    public const string Scheduling = "KernelScheduling";
    public const string Submission = "KernelSubmission";
}
