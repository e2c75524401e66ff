namespace KernelHarness.Generators;

// Pipeline models: records of strings, numbers and EquatableArrays only, so that equal inputs give
// equal models and the driver can cache every step. No ISymbol, SyntaxNode, Location or Compilation.

/// <summary>A description type: an interface dispatched to a bound implementation, or a static class of pure helpers.</summary>
internal sealed record DescriptionModel(
    string SubsystemName,
    string InterfaceName,
    bool IsDispatched,
    bool Assignable,
    string? ReferenceType,
    int BootOrder,
    string? LinuxFile,
    string DescriptionType,
    string DocIdName,
    string? DocComment,
    EquatableArray<MemberModel> Members)
{
    /// <summary>The Machine field that holds the bound implementation: the interface name without its <c>I</c>.</summary>
    public string FieldName => Naming.FieldNameOf(InterfaceName);
}

internal enum MemberKind
{
    Method,
    Property,
}

/// <summary>A method or property of a description.</summary>
internal sealed record MemberModel(
    MemberKind Kind,
    string Name,
    string ReturnType,
    string ReturnRefKind,
    bool HasGetter,
    bool HasSetter,
    EquatableArray<TypeParameterModel> TypeParameters,
    EquatableArray<ParameterModel> Parameters,
    string? DocComment,
    string LinuxFile,
    string LinuxFunction,
    EquatableArray<string> Attributes,
    SleepModel Sleep,
    AllocatesModel? Allocates,
    FreesModel? Frees,
    bool IsBootHook)
{
    public bool ReturnsVoid => ReturnType == "void" && ReturnRefKind.Length == 0;

    public bool ReturnsByRef => ReturnRefKind.Length != 0;
}

/// <summary>A type parameter and its <c>where</c> clause (empty when unconstrained).</summary>
internal sealed record TypeParameterModel(string Name, string ConstraintClause);

/// <summary>A parameter: <paramref name="RefKind"/> is the modifier text (<c>"out"</c>, <c>"ref"</c>, <c>"in"</c>, <c>"ref readonly"</c>) or empty.</summary>
internal sealed record ParameterModel(
    string Name,
    string Type,
    string RefKind,
    bool IsParams,
    bool IsThis,
    string? DefaultValue,
    EquatableArray<string> Attributes);

/// <summary>What <c>[MightSleep]</c> and <c>[MightSleepIfGfp]</c> say about a member.</summary>
internal sealed record SleepModel(bool MightSleep, int? ExceptIn, string? GfpParameter)
{
    public static readonly SleepModel None = new(false, null, null);

    public bool MaySleep => MightSleep || GfpParameter is not null;
}

/// <summary><c>[Allocates]</c>: the family's value and member name, and the parameters it names.</summary>
internal sealed record AllocatesModel(
    int Family,
    string FamilyExpression,
    string? Size,
    string? Count,
    string? Gfp,
    string? Cache,
    string? Order,
    bool Zeroes,
    string? Reallocates);

/// <summary><c>[Frees]</c>: the family and the parameters it names.</summary>
internal sealed record FreesModel(
    int Family,
    string FamilyExpression,
    string Pointer,
    string? Cache,
    string? Order);

/// <summary>A student class and the assignable subsystems it implements (pipeline B).</summary>
internal sealed record ConformanceTargetModel(
    string? Namespace,
    string ClassName,
    string FullyQualifiedName,
    EquatableArray<ConformanceSubsystemModel> Subsystems);

/// <summary>An assignable subsystem a student class implements.</summary>
internal sealed record ConformanceSubsystemModel(string Name, string Identifier);

/// <summary>A description with the names the facade needs: its hint name and each member's <c>KernelFunctionId</c>.</summary>
internal sealed record FacadeModel(DescriptionModel Description, string HintName, EquatableArray<string> FunctionIds);

/// <summary>Everything the function table and the Machine are built from.</summary>
internal sealed record KernelModel(EquatableArray<DescriptionModel> Descriptions, EquatableArray<FacadeModel> Facades);

/// <summary>The two facts pipeline B needs from the compilation.</summary>
internal sealed record ConformanceEnvironment(bool HasXunit, bool HasRunner, bool IsKernelHarness)
{
    public bool Enabled => HasXunit && HasRunner && !IsKernelHarness;
}
