// The FHIR R4 (4.0.1) resource types. A type outside this list is refused with 400: the gateway cannot
// reason about a type it does not know (issue #5 item 1).

/// The resource types of FHIR R4 4.0.1.
public enum ResourceTypes {
    /// Every concrete R4 resource type name (the CompartmentDefinition/patient lists plus `Parameters`).
    public static let all: Set<String> = Set(names.split(whereSeparator: \.isWhitespace).map(String.init))

    /// True when `name` is an R4 resource type (case-sensitive, as FHIR type names are).
    public static func isKnown(_ name: String) -> Bool { all.contains(name) }

    private static let names = """
        Account ActivityDefinition AdverseEvent AllergyIntolerance Appointment AppointmentResponse
        AuditEvent Basic Binary BiologicallyDerivedProduct BodyStructure Bundle CapabilityStatement
        CarePlan CareTeam CatalogEntry ChargeItem ChargeItemDefinition Claim ClaimResponse
        ClinicalImpression CodeSystem Communication CommunicationRequest CompartmentDefinition Composition
        ConceptMap Condition Consent Contract Coverage CoverageEligibilityRequest
        CoverageEligibilityResponse DetectedIssue Device DeviceDefinition DeviceMetric DeviceRequest
        DeviceUseStatement DiagnosticReport DocumentManifest DocumentReference EffectEvidenceSynthesis
        Encounter Endpoint EnrollmentRequest EnrollmentResponse EpisodeOfCare EventDefinition Evidence
        EvidenceVariable ExampleScenario ExplanationOfBenefit FamilyMemberHistory Flag Goal GraphDefinition
        Group GuidanceResponse HealthcareService ImagingStudy Immunization ImmunizationEvaluation
        ImmunizationRecommendation ImplementationGuide InsurancePlan Invoice Library Linkage List Location
        Measure MeasureReport Media Medication MedicationAdministration MedicationDispense
        MedicationKnowledge MedicationRequest MedicationStatement MedicinalProduct
        MedicinalProductAuthorization MedicinalProductContraindication MedicinalProductIndication
        MedicinalProductIngredient MedicinalProductInteraction MedicinalProductManufactured
        MedicinalProductPackaged MedicinalProductPharmaceutical MedicinalProductUndesirableEffect
        MessageDefinition MessageHeader MolecularSequence NamingSystem NutritionOrder Observation
        ObservationDefinition OperationDefinition OperationOutcome Organization OrganizationAffiliation
        Patient PaymentNotice PaymentReconciliation Person PlanDefinition Practitioner PractitionerRole
        Procedure Provenance Questionnaire QuestionnaireResponse RelatedPerson RequestGroup
        ResearchDefinition ResearchElementDefinition ResearchStudy ResearchSubject RiskAssessment
        RiskEvidenceSynthesis Schedule SearchParameter ServiceRequest Slot Specimen SpecimenDefinition
        StructureDefinition StructureMap Subscription Substance SubstanceNucleicAcid SubstancePolymer
        SubstanceProtein SubstanceReferenceInformation SubstanceSourceMaterial SubstanceSpecification
        SupplyDelivery SupplyRequest Task TerminologyCapabilities TestReport TestScript ValueSet
        VerificationResult VisionPrescription Parameters
        """
}
