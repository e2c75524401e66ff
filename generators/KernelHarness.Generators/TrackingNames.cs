namespace KernelHarness.Generators;

/// <summary>The names of the generator's tracked pipeline steps (tests read them to check caching).</summary>
public static class TrackingNames
{
    /// <summary>One model per description type (<c>[KernelSubsystem]</c> interface or static class).</summary>
    public const string Descriptions = nameof(Descriptions);

    /// <summary>All description models of the compilation, in a deterministic order.</summary>
    public const string AllDescriptions = nameof(AllDescriptions);

    /// <summary>Each description with its facade file name and function ids.</summary>
    public const string Facades = nameof(Facades);

    /// <summary>Whether the compilation can host conformance tests (xunit and the conformance runner are referenced).</summary>
    public const string ConformanceEnabled = nameof(ConformanceEnabled);

    /// <summary>One model per student class implementing an assignable subsystem interface.</summary>
    public const string ConformanceTargets = nameof(ConformanceTargets);

    /// <summary>The conformance targets, once the compilation is known to host them.</summary>
    public const string ConformanceJobs = nameof(ConformanceJobs);
}
